using System.Text.Json;

namespace TokenSieve.Checkpoints;

/// <summary>All tensors of a model folder: <c>model.safetensors</c>, the shards named by
/// <c>model.safetensors.index.json</c>, or a quantised <c>model.gguf</c> (<see cref="QuantizedWeights"/>). Names are
/// served in the canonical spelling (<see cref="TensorNames.Canonical"/> for LLaVA, the family's own for others)
/// whichever spelling the files use.</summary>
public sealed class CheckpointReader : ITensorSource
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    public string Directory { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    /// <summary>The quantised GGUF file, when the folder holds one instead of safetensors.</summary>
    public GgufFile? Gguf { get; private set; }

    readonly List<SafetensorsFile> _files = new();
    /// <summary>Other files whose tensors this reader serves (a llama.cpp pair), disposed with it.</summary>
    readonly List<IDisposable> _owned = new();
    readonly Dictionary<string, (ITensorSource File, string StoredName, string Path)> _byName = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> Names => _byName.Keys;

    readonly Func<string, string> _canonical;

    CheckpointReader(string directory, Func<string, string> canonical) => (Directory, _canonical) = (directory, canonical);

    /// <summary>Opens a folder, or a single .safetensors file given directly. <paramref name="canonical"/>
    /// maps stored names to the family's canonical spelling (default: LLaVA's).</summary>
    public static CheckpointReader Open(string path, string? weightsFile = null, Func<string, string>? canonical = null)
    {
        var reader = new CheckpointReader(System.IO.Directory.Exists(path) ? path : System.IO.Path.GetDirectoryName(path) ?? ".", canonical ?? TensorNames.Canonical);
        try
        {
            if (File.Exists(path) && path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
                reader.Add(SafetensorsFile.Open(path));
            else if (!System.IO.Directory.Exists(path))
                throw new CheckpointException(path, null, "model folder not found");
            else if (weightsFile is not null && weightsFile.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
                reader.AddGguf(System.IO.Path.Combine(path, weightsFile));
            else if (weightsFile is not null)
                reader.Add(SafetensorsFile.Open(System.IO.Path.Combine(path, weightsFile)));
            else if (File.Exists(System.IO.Path.Combine(path, IndexFile)))
                reader.OpenShards(System.IO.Path.Combine(path, IndexFile));
            else if (File.Exists(System.IO.Path.Combine(path, SingleFile)))
                reader.Add(SafetensorsFile.Open(System.IO.Path.Combine(path, SingleFile)));
            else if (File.Exists(System.IO.Path.Combine(path, QuantizedWeights.FileName)))
                reader.AddGguf(System.IO.Path.Combine(path, QuantizedWeights.FileName));
            else
                throw new CheckpointException(path, null, $"no {SingleFile}, {IndexFile} or {QuantizedWeights.FileName} in the folder");
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    void OpenShards(string indexPath)
    {
        using var doc = JsonInput.ParseFile(indexPath, (reason, inner) => new CheckpointException(indexPath, null, "index: " + reason, inner));
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(indexPath, null, "index is not a JSON object");
        var top = JsonInput.Properties(doc.RootElement, (key, reason) => new CheckpointException(indexPath, null, key is null ? "index: " + reason : $"index key '{key}': {reason}"));
        if (!top.TryGetValue("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(indexPath, null, "index has no weight_map object");
        var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var listed = new HashSet<string>(StringComparer.Ordinal);
        var dir = System.IO.Path.GetDirectoryName(indexPath)!;
        int index = 0;
        foreach (var entry in map.EnumerateObject())
        {
            index++;
            string tensor = JsonInput.TryGetName(entry)
                ?? throw new CheckpointException(indexPath, null, $"weight_map entry {index}: the tensor name is not valid UTF-8 / Unicode");
            if (!listed.Add(tensor)) throw new CheckpointException(indexPath, tensor, "weight_map lists this tensor twice");
            string shardName = JsonInput.TryGetString(entry.Value)
                ?? throw new CheckpointException(indexPath, tensor, $"weight_map value {JsonInput.Show(entry.Value)} is not a file name string");
            if (!IsPlainFileName(shardName))
                throw new CheckpointException(indexPath, tensor, $"weight_map names shard '{shardName}', which is not a plain file name in the model folder");
            if (!shards.TryGetValue(shardName, out var shard))
            {
                var shardPath = System.IO.Path.Combine(dir, shardName);
                if (!File.Exists(shardPath)) throw new CheckpointException(indexPath, tensor, $"shard '{shardName}' named by the index is missing");
                shard = SafetensorsFile.Open(shardPath);
                shards[shardName] = shard;
                _files.Add(shard);
            }
            if (!shard.Contains(tensor)) throw new CheckpointException(shard.Path, tensor, "the index names this tensor but the shard does not hold it");
        }
        foreach (var shard in _files) Register(shard);
    }

    /// <summary>Shards live next to the index: a name with a directory part (<c>../x</c>, an absolute
    /// path) or characters no file name has is refused rather than followed.</summary>
    static bool IsPlainFileName(string name) =>
        name.Length is > 0 and <= 255
        && name is not ("." or "..")
        && name.IndexOfAny(['/', '\\', '\0']) < 0
        && !System.IO.Path.IsPathRooted(name)
        && name.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) < 0;

    /// <summary>llama.cpp's LLaVA-1.5 pair served under the canonical (llava-hf) names: the language model's tensors
    /// through <see cref="LlamaCppLlava.LanguageModelNames"/>, the mmproj's through <see cref="LlamaCppLlava.ProjectorNames"/>.
    /// The tensors are the files' memory-mapped bytes in their stored types; attn_q / attn_k keep llama.cpp's
    /// interleaved row order (the decoder undoes it on its outputs). The reader owns both files from here on.</summary>
    internal static CheckpointReader OpenLlamaCppPair(GgufFile languageModel, GgufFile mmproj, LlavaConfig config)
    {
        var reader = new CheckpointReader(languageModel.Path, TensorNames.Canonical);
        reader._owned.Add(languageModel);
        reader._owned.Add(mmproj);
        reader.Gguf = languageModel;
        foreach (var (file, names) in new[] { (languageModel, LlamaCppLlava.LanguageModelNames(config.Text)), (mmproj, LlamaCppLlava.ProjectorNames(config.Vision.NumHiddenLayers)) })
            foreach (var (gguf, hf) in names)
                if (file.Contains(gguf)) reader._byName[hf] = (file, gguf, file.Path);
        return reader;
    }

    void Add(SafetensorsFile file)
    {
        _files.Add(file);
        Register(file);
    }

    /// <summary>A TokenSieve quantised GGUF (llava-hf names); a llama.cpp GGUF is refused with a pointer to how it opens.</summary>
    void AddGguf(string path)
    {
        var gguf = GgufFile.Open(path);
        Gguf = gguf;
        string? arch = gguf.TryGetString("general.architecture");
        if (arch != QuantizedWeights.Architecture)
            throw new CheckpointException(path, null, $"general.architecture is '{TokenSieveException.Printable(arch ?? "(none)")}', not '{QuantizedWeights.Architecture}': a llama.cpp GGUF opens as a pair (--model LM.gguf --mmproj MMPROJ.gguf), not as a model folder's weights");
        if (gguf.TryGetInteger(QuantizedWeights.FormatKey) is not long v || v != QuantizedWeights.FormatVersion)
            throw new CheckpointException(path, null, $"{QuantizedWeights.FormatKey} is missing or not {QuantizedWeights.FormatVersion}");
        Register(gguf, path);
    }

    void Register(SafetensorsFile file) => Register(file, file.Path);

    void Register(ITensorSource file, string path)
    {
        foreach (var stored in file.Names)
        {
            if (TensorNames.IsIgnoredBuffer(stored)) continue;
            var canonical = _canonical(stored);
            if (_byName.TryGetValue(canonical, out var previous))
                throw new CheckpointException(path, stored, $"duplicate tensor: also stored as '{previous.StoredName}' in {previous.Path}");
            _byName[canonical] = (file, stored, path);
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public TensorData Get(string name) =>
        _byName.TryGetValue(name, out var e)
            ? e.File.Get(e.StoredName)
            : throw new CheckpointException(Directory, name, "tensor missing from the checkpoint");

    /// <summary>Throws when the checkpoint holds tensors that a <paramref name="modelType"/> model with this
    /// config does not use (a wrong config, or a different architecture).</summary>
    public void CheckUnexpected(IReadOnlySet<string> expected, string modelType)
    {
        var unexpected = Names.Where(n => !expected.Contains(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw new CheckpointException(Directory, unexpected[0],
                $"{unexpected.Count} tensor(s) in the checkpoint are not used by a {modelType} model with this config (first: '{unexpected[0]}'); wrong config, or a different architecture");
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
        Gguf?.Dispose();
        foreach (var f in _owned) f.Dispose();
        _owned.Clear();
    }
}
