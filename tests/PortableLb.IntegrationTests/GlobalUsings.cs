global using NUnit.Framework;

// Network namespaces, daemons and signals: these tests run on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
