// Package suggest finds the known name closest to a misspelt one, for the
// "did you mean" of error messages.
package suggest

import "strings"

// Closest returns the candidate nearest to word by edit distance (letters
// inserted, deleted, replaced or two neighbours swapped), ignoring case,
// when it is near enough to be a likely typo: at most a quarter of the
// word's length, and at least one edit. It returns "" when none is.
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	if w == "" || len(w) > maxLen {
		return ""
	}
	limit := max(len([]rune(w))/4, 1)
	best, bestD := "", limit+1
	for _, c := range candidates {
		if c == word {
			continue
		}
		if d := distance(w, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean is Closest as a sentence to append to a message:
// ` (did you mean "x"?)`, or "" when nothing is close.
func DidYouMean(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

// maxLen bounds the words compared: the cost is quadratic and is paid on
// hostile input too.
const maxLen = 64

// distance is the optimal string alignment distance of a and b, by runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > maxLen || len(rb) > maxLen {
		return maxLen
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
