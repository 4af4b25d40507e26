using System.Net;
using PortableLb.Apply;

namespace PortableLb.Tests.Apply;

public sealed class FlowPinsRulesetTests
{
    private static readonly IPAddress PodA = IPAddress.Parse("10.244.1.5");
    private static readonly IPAddress PodB6 = IPAddress.Parse("fd00::6");

    [Test]
    public void Each_pinned_pod_remembers_new_connections_it_was_routed_and_steers_their_later_packets_within_the_mask_only()
    {
        IPNetwork[] destinations = [IPNetwork.Parse("198.51.100.10/32"), IPNetwork.Parse("203.0.113.0/28"), IPNetwork.Parse("2001:db8::10/128")];
        var ruleset = FlowPins.Ruleset(destinations, new Dictionary<IPAddress, int> { [PodA] = 1, [PodB6] = 3 }, FlowMarks.Default);

        Assert.That(ruleset, Does.StartWith("table inet portable_lb_node\ndelete table inet portable_lb_node\ntable inet portable_lb_node {\n"), "replaced whole, in one transaction");
        Assert.That(ruleset, Does.Contain("type filter hook prerouting priority mangle; policy accept;"));
        Assert.That(ruleset, Does.Contain("type filter hook forward priority mangle; policy accept;"));
        Assert.That(ruleset, Does.Contain(
            "ct direction original ct mark and 0x0f000000 == 0x01000000 ip daddr { 198.51.100.10/32, 203.0.113.0/28 } meta mark set meta mark and 0xf0ffffff or 0x01000000\n"));
        Assert.That(ruleset, Does.Contain(
            "ct state new ip daddr { 198.51.100.10/32, 203.0.113.0/28 } rt ip nexthop 10.244.1.5 ct mark set ct mark and 0xf0ffffff or 0x01000000\n"));
        Assert.That(ruleset, Does.Contain(
            "ct direction original ct mark and 0x0f000000 == 0x03000000 ip6 daddr { 2001:db8::10/128 } meta mark set meta mark and 0xf0ffffff or 0x03000000\n"));
        Assert.That(ruleset, Does.Contain("rt ip6 nexthop fd00::6 ct mark set ct mark and 0xf0ffffff or 0x03000000\n"));
    }

    [Test]
    public void Nothing_pinned_or_nothing_served_deletes_the_table()
    {
        const string Deleted = "table inet portable_lb_node\ndelete table inet portable_lb_node\n";
        Assert.That(FlowPins.Ruleset([IPNetwork.Parse("198.51.100.10/32")], new Dictionary<IPAddress, int>(), FlowMarks.Default), Is.EqualTo(Deleted));
        Assert.That(FlowPins.Ruleset([], new Dictionary<IPAddress, int> { [PodA] = 1 }, FlowMarks.Default), Is.EqualTo(Deleted));
        // An IPv4 pod has nothing to pin when only IPv6 addresses are served.
        Assert.That(FlowPins.Ruleset([IPNetwork.Parse("2001:db8::10/128")], new Dictionary<IPAddress, int> { [PodA] = 1 }, FlowMarks.Default), Is.EqualTo(Deleted));
    }

    [TestCase("0x0f000000", 0x0f000000u, 15)]
    [TestCase("0x3000", 0x3000u, 3)]
    [TestCase("255", 0xffu, 255)]
    [TestCase("0", 0u, 0)]
    public void A_mask_of_one_run_of_bits_gives_a_slot_per_value_but_zero(string text, uint mask, int slots)
    {
        Assert.That(FlowMarks.TryParse(text, out var marks, out var error), Is.True, error);
        Assert.That(marks.Mask, Is.EqualTo(mask));
        Assert.That(marks.Slots, Is.EqualTo(slots));
        Assert.That(marks.Enabled, Is.EqualTo(slots > 0));
        for (var slot = 1; slot <= Math.Min(slots, 20); slot++)
        {
            Assert.That(marks.Value(slot) & ~mask, Is.Zero, "within the mask");
            Assert.That(marks.SlotOf(marks.Value(slot)), Is.EqualTo(slot));
        }
    }

    [TestCase("0x0f0f0000", "not one run of contiguous bits")]
    [TestCase("0x5", "not one run of contiguous bits")]
    [TestCase("-1", "is not a 32-bit mask")]
    [TestCase("0x", "is not a 32-bit mask")]
    [TestCase("0x1ffffffff", "is not a 32-bit mask")]
    public void Other_masks_are_refused_with_the_reason(string text, string reason)
    {
        Assert.That(FlowMarks.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(reason));
    }

    [Test]
    public void A_mark_outside_the_mask_names_no_slot() =>
        Assert.That(FlowMarks.Default.SlotOf(0x01000001), Is.Zero);
}
