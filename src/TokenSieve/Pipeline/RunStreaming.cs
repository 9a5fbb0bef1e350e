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

/// <summary>What <see cref="RunStreaming.Stream{TItem, TResult}"/> yields: the work's items as they come,
/// then one final event with its result.</summary>
internal readonly record struct StreamEvent<TItem, TResult>(TItem Item, TResult Result, bool IsFinal);

/// <summary>Async and streaming forms of a synchronous run. The run goes to a worker thread (the engine
/// computes on its own threads; nothing here blocks the caller's), items are handed out as the run emits
/// them, and cancellation stops the run between vision layers, decoder layers and tokens.</summary>
internal static class RunStreaming
{
    public static Task<RunResult> RunAsync(Func<GenerationOptions, CancellationToken, RunResult> run, GenerationOptions generation, CancellationToken cancel) =>
        Task.Run(() => run(generation, cancel), cancel);

    /// <summary>Each generated id as it is sampled (the caller's own <c>OnToken</c> still runs), then the result.</summary>
    public static async IAsyncEnumerable<RunUpdate> StreamAsync(Func<GenerationOptions, CancellationToken, RunResult> run, GenerationOptions generation,
        [EnumeratorCancellation] CancellationToken cancel)
    {
        var caller = generation.OnToken;
        var events = Stream<int, RunResult>((emit, stop) => Task.Run(() => run(generation with
        {
            OnToken = id =>
            {
                emit(id);
                return caller?.Invoke(id) ?? true;
            },
        }, stop), stop), cancel);
        await foreach (var e in events.ConfigureAwait(false))
            yield return e.IsFinal ? new RunUpdate(null, e.Result) : new RunUpdate(e.Item, null);
    }

    /// <summary>Starts <paramref name="start"/> with an emit callback and a stop token, and yields what it emits
    /// as it emits it, then its result. Items already emitted are not handed out after cancellation; a consumer
    /// that stops reading (or is cancelled) stops the work, and the work has ended when the enumeration has.</summary>
    public static async IAsyncEnumerable<StreamEvent<TItem, TResult>> Stream<TItem, TResult>(Func<Action<TItem>, CancellationToken, Task<TResult>> start,
        [EnumeratorCancellation] CancellationToken cancel)
    {
        var items = Channel.CreateUnbounded<TItem>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var work = start(item => items.Writer.TryWrite(item), stop.Token);
        _ = work.ContinueWith(t => items.Writer.TryComplete(t.Exception?.InnerException), TaskScheduler.Default);
        try
        {
            await foreach (var item in items.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
            {
                cancel.ThrowIfCancellationRequested();
                yield return new StreamEvent<TItem, TResult>(item, default!, false);
            }
            yield return new StreamEvent<TItem, TResult>(default!, await work.ConfigureAwait(false), true);
        }
        finally
        {
            stop.Cancel();
            try { await work.ConfigureAwait(false); } catch (Exception) when (!work.IsCompletedSuccessfully) { }
        }
    }
}
