namespace TokenSieve.Numerics;

/// <summary>How many threads the kernels may use. Every public compute entry point takes one, so
/// `--threads N` reaches every kernel; results never depend on the thread count.</summary>
/// <remarks>A context owns a persistent pool of <c>Threads − 1</c> background workers (started on
/// first parallel use, shared by contexts of the same size); the calling thread is the last worker. <see cref="For"/> hands out indices
/// from a shared counter, so which thread runs an index varies, but every kernel computes each index
/// the same way on any thread, so results are bit-identical for any thread count. A call made while
/// the pool is busy (from a body, or from another thread) runs serially on its caller instead of
/// waiting, so nesting cannot deadlock.</remarks>
public sealed class ComputeContext
{
    public int Threads { get; }

    /// <summary>Fused attention (default) or eager attention with materialised probabilities.</summary>
    public AttentionMode Attention { get; }

    readonly WorkerPool? _pool;

    public ComputeContext(int threads = 0, AttentionMode attention = AttentionMode.Fused)
    {
        Attention = attention;
        if (threads < 0 || threads > MaxThreads)
            throw new InvalidInputException($"thread count must be 0..{MaxThreads} (0 = all cores), got {threads}");
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        if (Threads > 1) _pool = s_pools.GetOrAdd(Threads - 1, workers => new WorkerPool(workers));
    }

    /// <summary>Pools are shared by every context with the same thread count, so creating contexts freely
    /// (per run, per test) does not leak threads.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<int, WorkerPool> s_pools = new();

    public static ComputeContext Default { get; } = new(0);

    /// <summary>Most threads a context may start: 4 per core, at least 64. More would only oversubscribe
    /// the cores (each worker is an OS thread with its own stack; 2^31 of them ran out of memory).</summary>
    public static int MaxThreads => Math.Max(64, 4 * Environment.ProcessorCount);

    public static ComputeContext SingleThread { get; } = new(1);

    /// <summary>Runs body(i) for i in [0, count); serial when one thread is allowed or count is 1.</summary>
    public void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (_pool == null || count == 1 || !_pool.TryRun(count, body))
            for (int i = 0; i < count; i++) body(i);
    }

    /// <summary>Persistent workers fed one job at a time. Workers spin briefly (a job usually follows
    /// another within microseconds in a forward pass) and then sleep on a semaphore.</summary>
    sealed class WorkerPool
    {
        readonly int _workers;
        readonly SemaphoreSlim _wake = new(0);
        readonly ManualResetEventSlim _done = new(false);
        /// <summary>1 while a job runs. Not a lock: a lock would let the caller's own nested For re-enter.</summary>
        int _busy;
        Thread[]? _threads;

        Action<int>? _body;
        int _count;
        int _next;
        int _pending;
        Exception? _error;

        public WorkerPool(int workers) => _workers = workers;

        public bool TryRun(int count, Action<int> body)
        {
            if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
            try
            {
                EnsureStarted();
                _body = body;
                _count = count;
                _error = null;
                _next = 0;
                int helpers = Math.Min(_workers, count - 1);
                _pending = helpers + 1;
                _done.Reset();
                _wake.Release(helpers);
                Work();
                if (Interlocked.Decrement(ref _pending) != 0) _done.Wait();
                _body = null;
                // The body's own exception, with its stack: the same type a serial run would throw.
                if (_error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(_error).Throw();
                return true;
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }

        void EnsureStarted()
        {
            if (_threads != null) return;
            _threads = new Thread[_workers];
            for (int t = 0; t < _workers; t++)
            {
                _threads[t] = new Thread(WorkerLoop) { IsBackground = true, Name = $"TokenSieve compute {t + 1}" };
                _threads[t].Start();
            }
        }

        void WorkerLoop()
        {
            while (true)
            {
                _wake.Wait();
                Work();
                if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
            }
        }

        void Work()
        {
            var body = _body!;
            int count = _count;
            try
            {
                for (int i = Interlocked.Increment(ref _next) - 1; i < count; i = Interlocked.Increment(ref _next) - 1)
                    body(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Volatile.Write(ref _next, count);
            }
        }
    }
}
