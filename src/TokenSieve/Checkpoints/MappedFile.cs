using System.IO.MemoryMappedFiles;

namespace TokenSieve.Checkpoints;

/// <summary>A whole file mapped read-only with its base pointer acquired — how safetensors and GGUF
/// files are opened. A missing, too short or unmappable file is a <see cref="CheckpointException"/>
/// naming it; nothing stays open when the constructor throws.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    bool _disposed;

    public byte* Base { get; }
    public long Length { get; }

    /// <param name="tooShort">how the format names its minimum, e.g. "for a GGUF header"</param>
    public MappedFile(string path, long minLength, string tooShort)
    {
        if (!File.Exists(path)) throw new CheckpointException(path, null, "file not found");
        try
        {
            Length = new FileInfo(path).Length;
            if (Length < minLength) throw new CheckpointException(path, null, $"file is {Length} bytes, too short {tooShort}");
            _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            try { _view = _map.CreateViewAccessor(0, Length, MemoryMappedFileAccess.Read); }
            catch { _map.Dispose(); throw; }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, null, $"cannot map the file ({e.Message})", e);
        }
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        Base = p + _view.PointerOffset;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
