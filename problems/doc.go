// Package problems groups mail that reports the same problem. It owns the
// text cleaning (quotes, reply headers, greetings, signatures and
// disclaimers removed, Unicode folded), the features compared (TF-IDF
// weighted words and names over the subject and the cleaned body, with
// the help-desk concepts of an embedded lexicon, concepts.yaml, in place
// of the words that name them in any of ten languages) and the online
// grouping within a time window: a mail joins the group of the tracked
// mail most similar to it by cosine (single link), or starts a group of
// its own. A group is a *problem* once it holds MinSize mails. It also
// counts mail per sender in the window, for storm and loop rules.
//
// The Detector is in memory and bounded (mails tracked, features per
// mail, words per group); what it learns from each mail is returned as a
// Record the caller persists and hands back to Restore after a restart.
// It knows nothing of MIME, rules, stores or sinks.
package problems
