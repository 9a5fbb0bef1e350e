using Microsoft.Extensions.AI;
using TokenSieve.AI;

// usage: ChatWithImage MODEL_FOLDER IMAGE [QUESTION]
using IChatClient client = new TokenSieveChatClient(args[0]);
var question = new ChatMessage(ChatRole.User, [new DataContent(File.ReadAllBytes(args[1]), "image/png"), new TextContent(args.ElementAtOrDefault(2) ?? "What is in the image?")]);
await foreach (var update in client.GetStreamingResponseAsync([question]))
    Console.Write(update.Text);
Console.WriteLine();
