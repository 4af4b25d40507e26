global using NUnit.Framework;
global using PortableLb.Testing;
