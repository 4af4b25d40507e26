global using NUnit.Framework;
global using PortableLb.Testing;

// Network namespaces, daemons and signals: these tests run on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
