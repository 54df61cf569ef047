package rules

import "slices"

// Queues returns every queue the set can route to: the default queue and
// every set.queue, sorted and unique. The daemon checks them against its
// configured sinks.
func (s *Set) Queues() []string {
	qs := []string{s.Defaults.Queue}
	var walk func([]*ruleNode)
	walk = func(list []*ruleNode) {
		for _, n := range list {
			if n.set.Queue != "" {
				qs = append(qs, n.set.Queue)
			}
			walk(n.children)
		}
	}
	walk(s.root)
	slices.Sort(qs)
	return slices.Compact(qs)
}

// Rules returns every rule and group as written, in file order (a group
// before its rules). The slice is a copy; the Set stays immutable.
func (s *Set) Rules() []RuleInfo {
	return slices.Clone(s.ruleInfo)
}

// Tiers returns the declared tiers (L1, L2, L3 unless the rules declare others).
func (s *Set) Tiers() []string { return slices.Clone(s.tiers) }

// Priorities returns the declared priorities (P1 … P4 unless declared otherwise).
func (s *Set) Priorities() []string { return slices.Clone(s.priorities) }

// Lists returns a copy of the named lists.
func (s *Set) Lists() map[string][]string {
	out := make(map[string][]string, len(s.lists))
	for k, v := range s.lists {
		out[k] = append([]string(nil), v...)
	}
	return out
}
