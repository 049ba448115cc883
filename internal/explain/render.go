package explain

import (
	"strings"
	"unicode"
)

// Text renders the explanation as plain text for a terminal.
func (e *Explanation) Text() string {
	var b strings.Builder
	title := clean(e.Title)
	b.WriteString(title + "\n" + strings.Repeat("=", len([]rune(title))) + "\n")
	for _, s := range e.Sections {
		b.WriteString("\n" + clean(s.Title) + "\n" + strings.Repeat("-", len([]rune(s.Title))) + "\n")
		for _, it := range s.Items {
			if it.Label == "" {
				b.WriteString("  " + clean(it.Value) + "\n")
				continue
			}
			b.WriteString("  " + clean(it.Label) + ": " + clean(it.Value) + "\n")
		}
		if s.Table != nil {
			writeTextTable(&b, s.Table)
		}
	}
	return b.String()
}

// Markdown renders the explanation as GitHub-flavoured markdown.
func (e *Explanation) Markdown() string {
	var b strings.Builder
	b.WriteString("# " + mdEscape(e.Title) + "\n")
	for _, s := range e.Sections {
		b.WriteString("\n## " + mdEscape(s.Title) + "\n\n")
		for _, it := range s.Items {
			if it.Label == "" {
				b.WriteString("- " + mdEscape(it.Value) + "\n")
				continue
			}
			b.WriteString("- **" + mdEscape(it.Label) + ":** " + mdEscape(it.Value) + "\n")
		}
		if t := s.Table; t != nil {
			if len(s.Items) > 0 {
				b.WriteString("\n")
			}
			b.WriteString("| " + strings.Join(mdCells(t.Header), " | ") + " |\n")
			b.WriteString("|" + strings.Repeat(" --- |", len(t.Header)) + "\n")
			for _, r := range t.Rows {
				b.WriteString("| " + strings.Join(mdCells(r), " | ") + " |\n")
			}
		}
	}
	return b.String()
}

func writeTextTable(b *strings.Builder, t *Table) {
	widths := make([]int, len(t.Header))
	rows := append([][]string{t.Header}, t.Rows...)
	cleaned := make([][]string, len(rows))
	for i, r := range rows {
		cleaned[i] = make([]string, len(r))
		for j, c := range r {
			c = clean(c)
			cleaned[i][j] = c
			if j < len(widths) && len([]rune(c)) > widths[j] {
				widths[j] = len([]rune(c))
			}
		}
	}
	for _, r := range cleaned {
		b.WriteString("  ")
		for j, c := range r {
			if j == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[j]-len([]rune(c))+2))
		}
		b.WriteString("\n")
	}
}

// clean makes untrusted text safe for one line of a terminal: newlines and tabs
// become spaces, other control and format characters (escape sequences,
// bidirectional overrides) become U+FFFD.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return '\uFFFD'
		}
		return r
	}, s)
}

// mdEscape makes untrusted text inert in markdown: it is cleaned like text (so
// it cannot start a line), every character that markdown or HTML could interpret
// inside a line is backslash-escaped, and ":" and the dot of "www." are escaped so
// no autolink forms.
func mdEscape(s string) string {
	s = clean(s)
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune("\\`*_{}[]()<>!|~&:", r) || (r == '.' && i >= 3 && strings.EqualFold(s[i-3:i], "www")) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func mdCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = mdEscape(c)
	}
	return out
}
