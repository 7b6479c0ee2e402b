using System.Net;

namespace SmVL.Serving;

/// <summary>Where the server listens and who may call it: loopback unless a host is given; with an <see cref="ApiKey"/>, /v1 wants <c>Authorization: Bearer KEY</c>.</summary>
public sealed record ServeOptions
{
    /// <summary>An IP address, or "localhost" (loopback).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0: a free port, chosen when the server starts (<see cref="ChatServer.Address"/>).</summary>
    public int Port { get; init; } = 8000;
    public string? ApiKey { get; init; }
    public ServeLimits Limits { get; init; } = new();

    /// <summary><see cref="Host"/> as an address: an IP literal or "localhost" (loopback), never a name to resolve.</summary>
    public IPAddress ListenAddress() =>
        Host == "localhost" ? IPAddress.Loopback
        : IPAddress.TryParse(Host, out var ip) ? ip
        : throw new ArgumentException($"--host must be an IP address or localhost, got '{Host}'");
}
