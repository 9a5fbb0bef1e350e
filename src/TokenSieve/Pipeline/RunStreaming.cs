using System.Runtime.CompilerServices;
using System.Threading.Channels;
using TokenSieve.Models;

namespace TokenSieve.Pipeline;

/// <summary>One item of a streamed run: a generated id as soon as it is sampled (<see cref="TokenId"/>,
/// <see cref="Result"/> null), then, last, the finished run (<see cref="Result"/> set, <see cref="TokenId"/> null).</summary>
public sealed record RunUpdate(int? TokenId, RunResult? Result)
{
    public bool IsFinal => Result is not null;
}

/// <summary>Async and streaming forms of a synchronous pipeline run. The run goes to a worker thread
/// (the engine computes on its own threads; nothing here blocks the caller's), generated ids are
/// handed out as the decoder samples them, and cancellation stops the run between vision layers,
/// decoder layers and tokens.</summary>
internal static class RunStreaming
{
    public static Task<RunResult> RunAsync(Func<GenerationOptions, CancellationToken, RunResult> run, GenerationOptions generation, CancellationToken cancel) =>
        Task.Run(() => run(generation, cancel), cancel);

    public static async IAsyncEnumerable<RunUpdate> StreamAsync(Func<GenerationOptions, CancellationToken, RunResult> run, GenerationOptions generation,
        [EnumeratorCancellation] CancellationToken cancel)
    {
        var ids = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var caller = generation.OnToken;
        var streaming = generation with
        {
            OnToken = id =>
            {
                ids.Writer.TryWrite(id);
                return caller?.Invoke(id) ?? true;
            },
        };
        var work = Task.Run(() => run(streaming, stop.Token), stop.Token);
        _ = work.ContinueWith(t => ids.Writer.TryComplete(t.Exception?.InnerException), TaskScheduler.Default);
        try
        {
            await foreach (int id in ids.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
            {
                cancel.ThrowIfCancellationRequested();
                yield return new RunUpdate(id, null);
            }
            yield return new RunUpdate(null, await work.ConfigureAwait(false));
        }
        finally
        {
            // A consumer that stops reading (or is cancelled) stops the run too.
            stop.Cancel();
            try { await work.ConfigureAwait(false); } catch (Exception) when (!work.IsCompletedSuccessfully) { }
        }
    }
}
