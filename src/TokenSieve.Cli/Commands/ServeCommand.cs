using System.CommandLine;
using TokenSieve.AI;
using TokenSieve.Serve;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve serve`: the model behind a local OpenAI-compatible endpoint until Ctrl-C.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "model folder, any supported family (default: the built-in lab model, models/lab)";
        var host = new Option<string>("--host") { Description = "address to listen on (default loopback; the endpoint has no authentication)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port", DefaultValueFactory = _ => 8000 }.Range(0, 65535);
        var threads = CommonOptions.Threads();
        var reduce = RunCommand.ReduceOption();
        reduce.Description = "default vision-side method for requests without a `reduce` field; " + reduce.Description;
        var prune = new Option<string?>("--prune") { Description = "default decoder-side method for requests without a `prune` field, e.g. fastv:k=2,keep=64" };
        var template = RunCommand.TemplateOption();
        template.Description = "LLaVA family: prompt template (llava_hf: the llava-hf processor's chat format, default; vicuna_v1/llava_v1: LLaVA-1.5's eval)";
        template.DefaultValueFactory = _ => "llava_hf";
        var maxTokens = new Option<int>("--max-tokens") { Description = "new tokens when a request sets no max_tokens", DefaultValueFactory = _ => 128 }.Range(1, 1 << 20);
        var queue = new Option<int>("--queue") { Description = "requests that may wait while one runs; more get HTTP 429", DefaultValueFactory = _ => 8 }.Range(0, 10_000);
        var maxRequest = new Option<int>("--max-request-mb") { Description = "largest request body in MiB", DefaultValueFactory = _ => 32 }.Range(1, 2047);
        var maxImage = new Option<int>("--max-image-mb") { Description = "largest image in MiB (after base64 decoding)", DefaultValueFactory = _ => 20 }.Range(1, 2047);
        var remote = new Option<bool>("--allow-remote-images") { Description = "fetch http(s) image_url values (refused by default: only data: URIs)" };
        var mmproj = CommonOptions.Mmproj();
        var cmd = new Command("serve", "Serve a model as a local OpenAI-compatible endpoint: POST /v1/chat/completions (images as data: URIs, stream: true, reduce/prune fields), GET /v1/models.")
        {
            model, host, port, threads, reduce, prune, template, maxTokens, queue, maxRequest, maxImage, remote, mmproj,
        };
        cmd.SetAction(async (p, cancel) =>
        {
            string dir = p.GetValue(mmproj) is null ? BuiltInModel.Resolve(p.GetValue(model)) : p.GetValue(model) ?? throw new InvalidInputException("--mmproj needs --model LM.gguf");
            var options = new TokenSieveChatClientOptions
            {
                Threads = p.GetValue(threads), Reduce = p.GetValue(reduce), Prune = p.GetValue(prune), Template = p.GetValue(template)!,
                DefaultMaxOutputTokens = p.GetValue(maxTokens), MaxImageBytes = p.GetValue(maxImage) << 20, Mmproj = p.GetValue(mmproj),
            };
            using var client = new TokenSieveChatClient(dir, options);
            var serve = new ServeOptions
            {
                Host = p.GetValue(host)!, Port = p.GetValue(port), MaxQueue = p.GetValue(queue), MaxRequestBytes = (long)p.GetValue(maxRequest) << 20,
                MaxImageBytes = p.GetValue(maxImage) << 20, AllowRemoteImages = p.GetValue(remote),
            };
            await using var server = await ChatServer.StartAsync(client, client.ModelId, serve, cancel);
            Console.WriteLine($"serving {client.ModelId} ({Checkpoints.ModelFamily.ModelType(client.Family)}) at {server.Address}/v1 — POST /v1/chat/completions, GET /v1/models; Ctrl-C stops");
            using var note = server.Stopping.Register(() =>
                Console.WriteLine($"stopping: no new connections; finishing {server.InFlight} request(s) in flight (up to {serve.ShutdownTimeout.TotalSeconds:F0} s)"));
            // Ctrl-C reaches both the command line (cancel) and the web host (which then stops itself).
            var interrupted = new TaskCompletionSource();
            using var onCancel = cancel.Register(() => interrupted.TrySetResult());
            await Task.WhenAny(interrupted.Task, server.WaitForShutdownAsync());
            await server.StopAsync();
            Console.WriteLine("stopped");
            return 0;
        });
        return cmd;
    }
}
