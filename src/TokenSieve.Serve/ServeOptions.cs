namespace TokenSieve.Serve;

/// <summary>Settings of `tokensieve serve`.</summary>
public sealed record ServeOptions
{
    /// <summary>Address to listen on; loopback unless asked otherwise (the endpoint has no authentication).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port (0: any free port, reported by <see cref="ChatServer.Address"/>).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>Largest request body in bytes (images arrive base64-encoded inside it).</summary>
    public long MaxRequestBytes { get; init; } = 32L << 20;

    /// <summary>Largest decoded image in bytes.</summary>
    public int MaxImageBytes { get; init; } = 20 << 20;

    /// <summary>Requests that may wait while one runs (the engine is single-stream); more get 429.</summary>
    public int MaxQueue { get; init; } = 8;

    /// <summary>Fetch http(s) image URLs; off by default, so a request cannot make the server reach the network.</summary>
    public bool AllowRemoteImages { get; init; }

    /// <summary>How long shutdown waits for the running and queued requests.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
