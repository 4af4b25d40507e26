using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace PortableLb.Testing.FakeApi;

/// <summary>One open watch: a chunked response that gets one JSON event per line, flushed after each.</summary>
public sealed class WatchStream(HttpContext context, Channel<string> channel, ApiPath path, bool bookmarks)
{
    private volatile bool _stalled;

    public ApiPath Path { get; } = path;

    /// <summary>For an ERROR event: the server sends it and closes the stream.</summary>
    public bool EndAfterReplay { get; set; }

    public void Send(string line)
    {
        if (!_stalled) channel.Writer.TryWrite(line);
    }

    public void SendBookmark(long resourceVersion)
    {
        if (!bookmarks) return;
        Send(FakeStore.EventLine("BOOKMARK", new JsonObject
        {
            ["kind"] = ApiPath.KindOf(Path.Plural),
            ["apiVersion"] = Path.Group.Length == 0 ? Path.Version : $"{Path.Group}/{Path.Version}",
            ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion.ToString() },
        }));
    }

    public void Stall() => _stalled = true;

    public void Abort() => context.Abort();

    public async Task RunAsync(IEnumerable<string> replay, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(timeout);
        var response = context.Response;
        try
        {
            foreach (var line in replay) await response.WriteAsync(line + "\n", deadline.Token);
            await response.Body.FlushAsync(deadline.Token);
            if (EndAfterReplay) return;
            await foreach (var line in channel.Reader.ReadAllAsync(deadline.Token))
            {
                await response.WriteAsync(line + "\n", deadline.Token);
                await response.Body.FlushAsync(deadline.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // timeoutSeconds ran out, or the client left: the stream simply ends.
        }
    }
}
