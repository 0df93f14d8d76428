package oplimit

import (
	"fmt"
	"strings"
)

// tokenKind is the kind of a lexical token the scanner tells apart.
type tokenKind int

const (
	tokenEOF    tokenKind = iota
	tokenPunct            // one of {}()[]:@$!=|&
	tokenSpread           // ...
	tokenName             // a name, keyword or not
	tokenOther            // a string, a number, or a character GraphQL does not know
)

// scanner reads a document's structure, one token ahead.
type scanner struct {
	src    string
	pos    int
	limits Limits

	kind tokenKind
	text string // the name or punctuator of the current token

	defs      []definition
	written   int // fields written so far, in every definition
	violation *Violation
}

func isNameStart(c byte) bool { return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// advance reads the next token, skipping what GraphQL ignores: white space,
// line terminators, commas, comments and the byte order mark.
func (s *scanner) advance() {
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			s.pos++
		case c == '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' && s.src[s.pos] != '\r' {
				s.pos++
			}
		case strings.HasPrefix(s.src[s.pos:], "\uFEFF"):
			s.pos += len("\uFEFF")
		default:
			s.token()
			return
		}
	}
	s.kind, s.text = tokenEOF, ""
}

// token reads the token at s.pos, which is not ignored.
func (s *scanner) token() {
	start := s.pos
	switch c := s.src[s.pos]; {
	case strings.HasPrefix(s.src[s.pos:], "..."):
		s.pos += 3
		s.kind = tokenSpread
	case isNameStart(c):
		for s.pos < len(s.src) && isNameChar(s.src[s.pos]) {
			s.pos++
		}
		s.kind = tokenName
	case c == '"':
		s.skipString()
		s.kind = tokenOther
	case strings.IndexByte("{}()[]:@$!=|&", c) >= 0:
		s.pos++
		s.kind = tokenPunct
	default: // a number (read as far as its characters go), or a stray byte
		s.pos++
		for s.pos < len(s.src) && strings.IndexByte("0123456789.eE+-", s.src[s.pos]) >= 0 {
			s.pos++
		}
		s.kind = tokenOther
	}
	s.text = s.src[start:s.pos]
}

// skipString skips the string or block string at s.pos. An unterminated
// string ends at its line (a block string at the end of the document).
func (s *scanner) skipString() {
	if strings.HasPrefix(s.src[s.pos:], `"""`) {
		s.pos += 3
		for {
			i := strings.Index(s.src[s.pos:], `"""`)
			if i < 0 {
				s.pos = len(s.src)
				return
			}
			escaped := i > 0 && s.src[s.pos+i-1] == '\\'
			s.pos += i + 3
			if !escaped {
				return
			}
		}
	}
	s.pos++
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case '\\':
			s.pos += 2
		case '"':
			s.pos++
			return
		case '\n', '\r':
			return
		default:
			s.pos++
		}
	}
	s.pos = min(s.pos, len(s.src))
}

func (s *scanner) is(punct string) bool { return s.kind == tokenPunct && s.text == punct }

// skipBalanced skips from an opening ( [ or { to its closing match.
func (s *scanner) skipBalanced() {
	depth := 0
	for s.kind != tokenEOF {
		if s.kind == tokenPunct {
			switch s.text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			}
		}
		s.advance()
		if depth <= 0 {
			return
		}
	}
}

// skipDirectives skips directives (@name(args)...).
func (s *scanner) skipDirectives() {
	for s.is("@") {
		s.advance()
		if s.kind == tokenName {
			s.advance()
		}
		if s.is("(") {
			s.skipBalanced()
		}
	}
}

// skipToSelectionSet skips what comes before a definition's selection set:
// its name, variable definitions (whose default values may hold braces),
// type condition and directives.
func (s *scanner) skipToSelectionSet() {
	for s.kind != tokenEOF && !s.is("{") {
		if s.is("(") {
			s.skipBalanced()
			continue
		}
		s.advance()
	}
}

// document reads the definitions of the document.
func (s *scanner) document() {
	s.advance()
	for s.kind != tokenEOF && s.violation == nil {
		var d definition
		switch {
		case s.is("{"):
			d.operation = "query"
		case s.kind == tokenName && (s.text == "query" || s.text == "mutation" || s.text == "subscription"):
			d.operation = s.text
			s.advance()
			if s.kind == tokenName {
				d.name = s.text
			}
			s.skipToSelectionSet()
		case s.kind == tokenName && s.text == "fragment":
			s.advance()
			if s.kind == tokenName {
				d.name = s.text
			}
			s.skipToSelectionSet()
		default:
			// Not an executable definition: the engine reports it. Nothing
			// of the rest is read; what was read is still checked.
			return
		}
		if !s.is("{") {
			return
		}
		s.selectionSet(&d, 0, true)
		s.defs = append(s.defs, d)
	}
}

// selectionSet reads the selection set at the current "{" of definition d,
// nested in depth fields; root tells the definition's own selection set (and
// inline fragments directly in it).
func (s *scanner) selectionSet(d *definition, depth int, root bool) {
	s.advance() // {
	for s.violation == nil {
		switch {
		case s.kind == tokenEOF:
			return
		case s.is("}"):
			s.advance()
			return
		case s.kind == tokenSpread:
			s.advance()
			if s.kind == tokenName && s.text != "on" {
				d.spreads = append(d.spreads, spread{name: s.text, depth: depth, root: root})
				s.advance()
				s.skipDirectives()
				continue
			}
			// An inline fragment: its fields are at this depth.
			if s.kind == tokenName { // on
				s.advance()
				if s.kind == tokenName {
					s.advance()
				}
			}
			s.skipDirectives()
			if s.is("{") {
				s.selectionSet(d, depth, root)
			}
		case s.kind == tokenName:
			s.field(d, depth, root)
		default:
			s.advance() // not a selection: the engine reports it
		}
	}
}

// field reads one field (alias, name, arguments, directives, selection set).
func (s *scanner) field(d *definition, depth int, root bool) {
	name := s.text
	s.advance()
	aliased := s.is(":")
	if aliased {
		s.advance()
		if s.kind == tokenName {
			name = s.text
			s.advance()
		}
	}
	l := s.limits
	d.fields = add(d.fields, 1)
	s.written = add(s.written, 1)
	if aliased {
		d.aliases = add(d.aliases, 1)
	}
	if root {
		d.roots = add(d.roots, 1)
	}
	d.depth = max(d.depth, depth+1)
	switch {
	case l.MaxDepth > 0 && depth+1 > l.MaxDepth:
		// Refused at once: the nesting bounds the scanner's own recursion.
		s.violation = &Violation{CodeTooDeep, fmt.Sprintf("The document nests fields over the depth limit of %d", l.MaxDepth)}
		return
	case l.MaxFields > 0 && s.written > l.MaxFields:
		s.violation = &Violation{CodeTooManyFields, fmt.Sprintf("The document has over %d fields, the limit", l.MaxFields)}
		return
	case l.NoIntrospection && (name == "__schema" || name == "__type"):
		s.violation = &Violation{CodeIntrospection, "Introspection is disabled"}
		return
	}
	if s.is("(") {
		s.skipBalanced()
	}
	s.skipDirectives()
	if s.is("{") {
		s.selectionSet(d, depth+1, false)
	}
}
