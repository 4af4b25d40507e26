using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PortableLb.IntegrationTests.Kubernetes;

/// <summary>
/// A throwaway CA with a server certificate for 127.0.0.1 (and any other addresses given: 10.0.2.2, say, where a VM
/// reaches this machine's loopback) and a client certificate, made fresh per test run.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly IPAddress[] _serverAddresses;
    // One validity window for all three: a leaf may not outlive its issuer, even by the milliseconds between two "now"s.
    private readonly DateTimeOffset _notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
    private readonly DateTimeOffset _notAfter = DateTimeOffset.UtcNow.AddDays(1);

    public TestPki(params IPAddress[] serverAddresses)
    {
        _serverAddresses = serverAddresses;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=portable-lb-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Authority = caRequest.CreateSelfSigned(_notBefore, _notAfter);

        Server = Issue("CN=127.0.0.1", serverAuth: true);
        Client = Issue("CN=portable-lb, O=system:masters", serverAuth: false);
    }

    public X509Certificate2 Authority { get; }
    public X509Certificate2 Server { get; }
    public X509Certificate2 Client { get; }

    public string AuthorityPem => Authority.ExportCertificatePem();
    public string ClientCertificatePem => Client.ExportCertificatePem();
    public string ClientKeyPem => Client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();

    private X509Certificate2 Issue(string subject, bool serverAuth)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            foreach (var address in _serverAddresses) names.AddIpAddress(address);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(16);
        using var issued = request.Create(Authority, _notBefore, _notAfter, serial);
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Authority.Dispose();
        Server.Dispose();
        Client.Dispose();
    }
}

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
