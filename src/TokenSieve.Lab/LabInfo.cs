namespace TokenSieve.Lab;
/// <summary>The built-in laboratory (scenes, questions, trainer) lives in this assembly.</summary>
public static class LabInfo { public const string Name = "TokenSieve.Lab"; }
