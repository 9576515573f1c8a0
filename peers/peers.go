// Package peers names the far end of a call: the peer groups (trunks, carriers) of the
// config, each a set of CIDR prefixes. A call belongs to one group or to Other, so every
// per-peer label (metrics, alerts, the call JSON's `peer`) is bounded by the config.
//
// Direction: a call is incoming when its caller (the source of the initial INVITE) is in
// a group, and then belongs to the caller's group; otherwise it is outgoing and belongs
// to the callee's group; when neither end is in a group it is Other. The longest
// matching prefix wins; between equal prefixes, the group listed first.
//
// A Classifier is immutable after New and safe for concurrent use; Classify does not
// allocate.
package peers

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
)

// Other is the group of calls whose ends are in no configured group.
const Other = "other"

// MaxGroups bounds the config (and so every per-peer label set).
const MaxGroups = 1000

// Group is one configured peer group.
type Group struct {
	Name  string   `json:"name" yaml:"name"`
	CIDRs []string `json:"cidrs" yaml:"cidrs"` // "192.0.2.0/24", "2001:db8::/32" or a bare address
}

type prefix struct {
	p     netip.Prefix
	group string
}

// Classifier maps addresses to group names.
type Classifier struct {
	prefixes []prefix
	names    []string
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// New checks groups and builds their classifier. nil or empty groups classify
// everything as Other.
func New(groups []Group) (*Classifier, error) {
	if len(groups) > MaxGroups {
		return nil, fmt.Errorf("peers: %d groups, at most %d", len(groups), MaxGroups)
	}
	c := &Classifier{}
	seen := map[string]bool{Other: true}
	var errs []error
	for i, g := range groups {
		if !validName.MatchString(g.Name) {
			errs = append(errs, fmt.Errorf("peers[%d]: name %q: want letters, digits, '_', '.', '-' (at most 63)", i, g.Name))
			continue
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("peers[%d]: name %q is taken (or reserved)", i, g.Name))
			continue
		}
		seen[g.Name] = true
		c.names = append(c.names, g.Name)
		if len(g.CIDRs) == 0 {
			errs = append(errs, fmt.Errorf("peers[%d] %q: no cidrs", i, g.Name))
		}
		for _, s := range g.CIDRs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					errs = append(errs, fmt.Errorf("peers[%d] %q: cidr %q: %v", i, g.Name, s, err))
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.prefixes = append(c.prefixes, prefix{p.Masked(), g.Name})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Names lists the configured groups in config order (Other not included).
func (c *Classifier) Names() []string {
	if c == nil {
		return nil
	}
	return c.names
}

// Of returns the group of a, or "" when a is in none.
func (c *Classifier) Of(a netip.Addr) string {
	if c == nil || !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	best, bits := "", -1
	for i := range c.prefixes {
		p := &c.prefixes[i]
		if p.p.Bits() > bits && p.p.Contains(a) {
			best, bits = p.group, p.p.Bits()
		}
	}
	return best
}

// Classify returns the group of a call from its caller and callee as the call JSON
// writes them ("ip:port", "[v6]:port" or a bare address): the caller's group
// (incoming), else the callee's (outgoing), else Other.
func (c *Classifier) Classify(caller, callee string) string {
	if g := c.Of(parseAddr(caller)); g != "" {
		return g
	}
	if g := c.Of(parseAddr(callee)); g != "" {
		return g
	}
	return Other
}

func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(s)
	return a
}
