using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PortableLb.Common;

namespace PortableLb.Cli;

/// <summary>The host both long-running commands (`run`, `node-routes`) share: Kestrel on --listen, one-line logs, fault watch.</summary>
public static class WebHostSetup
{
    public static WebApplicationBuilder Create(IPEndPoint listen)
    {
        // The empty builder reads no appsettings.json. The slim one watches it with reloadOnChange under the content
        // root, which is the working directory: "/" in the image, so it put an inotify watch on every directory of
        // the container (minutes of start-up under emulation, and the node's inotify watches gone for the manifest
        // folder's own watcher). Everything here is configured by flags.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            // [::] with IPv4 mapped in where the kernel has IPv6, else 0.0.0.0: one socket for both families.
            if (listen.Address.Equals(IPAddress.IPv6Any)) kestrel.ListenAnyIP(listen.Port);
            else kestrel.Listen(listen);
        });
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders().AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        // One line per probe every few seconds would drown the controller's own log.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<BackgroundFaults>();
        return builder;
    }

    /// <summary>Hosts a background service whose fault is recorded at once and stops the process (exit 3).</summary>
    public static void AddWatched<T>(this IServiceCollection services, string task)
        where T : Microsoft.Extensions.Hosting.BackgroundService =>
        // Not AddHostedService: it adds one registration per implementation type, and every one of these is a WatchedService.
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostedService>(provider => new WatchedService(provider.GetRequiredService<T>(), task, provider.GetRequiredService<BackgroundFaults>()));

    /// <summary>Builds the app with faults wired to stop it.</summary>
    public static WebApplication BuildWatched(this WebApplicationBuilder builder)
    {
        var app = builder.Build();
        var lifetime = app.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();
        app.Services.GetRequiredService<BackgroundFaults>().Faulted += lifetime.StopApplication;
        return app;
    }
}
