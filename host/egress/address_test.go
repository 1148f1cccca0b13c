package egress

import (
	"errors"
	"net/netip"
	"testing"
)

// These tests only call Check; nothing here is ever dialled.

func TestAddressPolicyDefault(t *testing.T) {
	p, err := NewAddressPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		addr  string
		allow bool
	}{
		{"private 10/8", "10.0.0.1", false},
		{"private 172.16/12 low end", "172.16.0.1", false},
		{"private 172.16/12 high end", "172.31.255.255", false},
		{"private 192.168/16", "192.168.1.1", false},
		{"cloud metadata IPv4", "169.254.169.254", false},
		{"IPv6 link-local", "fe80::1", false},
		{"AWS metadata IPv6", "fd00:ec2::254", false},
		{"unique local", "fc00::1", false},
		{"CGNAT", "100.64.0.1", false},
		{"IPv4 unspecified", "0.0.0.0", false},
		{"this network 0/8", "0.1.2.3", false},
		{"IPv6 unspecified", "::", false},
		{"IPv6 loopback", "::1", false},
		{"IPv4 loopback", "127.0.0.1", false},
		{"loopback elsewhere in 127/8", "127.255.0.1", false},
		{"mapped private", "::ffff:10.0.0.1", false},
		{"mapped loopback", "::ffff:127.0.0.1", false},
		{"mapped metadata", "::ffff:169.254.169.254", false},
		{"NAT64 embedding private", "64:ff9b::a00:1", false},
		{"NAT64 embedding metadata", "64:ff9b::a9fe:a9fe", false},
		{"local-use NAT64", "64:ff9b:1::808:808", false},
		{"6to4 embedding private", "2002:a00:1::1", false},
		{"6to4 embedding loopback", "2002:7f00:1::1", false},
		{"Teredo server private", "2001:0:a00:1::1", false},
		{"Teredo client loopback (inverted)", "2001:0:808:808:0:0:80ff:fffe", false},
		{"IPv4-compatible private", "::a00:1", false},
		{"IPv4-compatible public is deprecated", "::808:808", false},
		{"multicast IPv4", "224.0.0.1", false},
		{"multicast IPv6", "ff02::1", false},
		{"broadcast", "255.255.255.255", false},
		{"reserved 240/4", "240.0.0.1", false},
		{"IETF 192.0.0/24", "192.0.0.1", false},
		{"documentation TEST-NET-1", "192.0.2.1", false},
		{"documentation TEST-NET-2", "198.51.100.1", false},
		{"documentation TEST-NET-3", "203.0.113.1", false},
		{"documentation IPv6", "2001:db8::1", false},
		{"benchmarking", "198.18.0.1", false},
		{"benchmarking upper half", "198.19.255.255", false},
		{"6to4 relay anycast", "192.88.99.1", false},
		{"IPv6 site-local", "fec0::1", false},
		{"IPv6 discard", "100::1", false},
		{"IPv6 outside global unicast", "4000::1", false},
		{"zoned link-local", "fe80::1%eth0", false},
		{"zoned public", "2606:4700:4700::1111%eth0", false},
		{"public Cloudflare", "1.1.1.1", true},
		{"public Google", "8.8.8.8", true},
		{"public IPv6", "2606:4700:4700::1111", true},
		{"mapped public", "::ffff:8.8.8.8", true},
		{"NAT64 embedding public", "64:ff9b::808:808", true},
		{"6to4 embedding public", "2002:808:808::1", true},
		{"Teredo embedding public", "2001:0:808:808:0:0:f7f7:f7f7", true},
		{"just below 172.16/12", "172.15.255.255", true},
		{"just above 172.16/12", "172.32.0.0", true},
		{"just below CGNAT", "100.63.255.255", true},
		{"just above CGNAT", "100.128.0.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(netip.MustParseAddr(tt.addr))
			if tt.allow && err != nil {
				t.Fatalf("Check(%s) = %v, want allowed", tt.addr, err)
			}
			if !tt.allow && !errors.Is(err, ErrAddressRefused) {
				t.Fatalf("Check(%s) = %v, want ErrAddressRefused", tt.addr, err)
			}
		})
	}
}

func TestAddressPolicyAllowPrivate(t *testing.T) {
	tests := []struct {
		name  string
		open  []string
		addr  string
		allow bool
	}{
		{"opened range", []string{"10.0.0.0/8"}, "10.1.2.3", true},
		{"opened range via mapped form", []string{"10.0.0.0/8"}, "::ffff:10.1.2.3", true},
		{"opened range does not open 192.168/16", []string{"10.0.0.0/8"}, "192.168.1.1", false},
		{"opened range does not open loopback", []string{"10.0.0.0/8"}, "127.0.0.1", false},
		{"opened range does not open metadata", []string{"10.0.0.0/8"}, "169.254.169.254", false},
		{"single loopback host", []string{"127.0.0.1/32"}, "127.0.0.1", true},
		{"neighbour of single loopback host", []string{"127.0.0.1/32"}, "127.0.0.2", false},
		{"IPv6 range", []string{"fd00::/8"}, "fd00:ec2::1", true},
		{"open everything still refuses unspecified", []string{"0.0.0.0/0"}, "0.0.0.0", false},
		{"open everything still refuses multicast", []string{"0.0.0.0/0"}, "224.0.0.1", false},
		{"open everything still refuses broadcast", []string{"0.0.0.0/0"}, "255.255.255.255", false},
		{"open everything still refuses zones", []string{"::/0"}, "fe80::1%eth0", false},
		{"open everything still refuses IPv6 unspecified", []string{"::/0"}, "::", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewAddressPolicy(tt.open)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Check(netip.MustParseAddr(tt.addr))
			if tt.allow && err != nil {
				t.Fatalf("Check(%s) = %v, want allowed", tt.addr, err)
			}
			if !tt.allow && !errors.Is(err, ErrAddressRefused) {
				t.Fatalf("Check(%s) = %v, want ErrAddressRefused", tt.addr, err)
			}
		})
	}
}

func TestNewAddressPolicyRejectsBadCIDR(t *testing.T) {
	for _, tt := range []struct{ name, cidr string }{
		{"prefix too long", "10.0.0.0/33"},
		{"host bits set", "10.0.0.1/8"},
		{"bare address", "10.0.0.1"},
		{"not an address", "not-a-cidr"},
		{"empty", ""},
		{"leading space", " 10.0.0.0/8"},
		{"mapped IPv4 range", "::ffff:10.0.0.0/104"},
		{"zone", "fe80::%eth0/10"},
		{"hostname", "localhost/8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAddressPolicy([]string{"127.0.0.0/8", tt.cidr})
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("NewAddressPolicy(%q) = %v, want ErrInvalidPattern", tt.cidr, err)
			}
		})
	}
}

func TestNilAddressPolicyRefusesPrivate(t *testing.T) {
	var p *AddressPolicy
	if err := p.Check(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrAddressRefused) {
		t.Fatalf("nil policy: %v", err)
	}
	if err := p.Check(netip.MustParseAddr("8.8.8.8")); err != nil {
		t.Fatalf("nil policy refused public address: %v", err)
	}
}

func TestRefusalNamesNoAddress(t *testing.T) {
	p, _ := NewAddressPolicy(nil)
	err := p.Check(netip.MustParseAddr("10.9.8.7"))
	if got, want := err.Error(), "egress: address refused: private"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
}
