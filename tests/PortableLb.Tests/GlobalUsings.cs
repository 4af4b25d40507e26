global using NUnit.Framework;
global using PortableLb.Testing;

// The program under test is Linux-only (keepalived, IPVS, libc signals).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
