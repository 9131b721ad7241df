package bulkemu

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// query is a parsed and checked Bulk API 2.0 query: what to select, from
// which object, which rows, in which order and how many. It is immutable
// after parseQuery, so one query may be evaluated from several goroutines.
type query struct {
	Object  *Object
	Columns []column // in SELECT order
	Limit   int      // -1 when the query has no LIMIT

	where soqlCond        // nil when there is no WHERE
	order []soqlOrderTerm // empty when there is no ORDER BY
}

// column is one column of a query result.
type column struct {
	// Header is the result CSV header: the schema's spelling of the field
	// ("Name"), or of the relationship and the parent's field
	// ("Account.External_Id__c"), whatever case the query used.
	Header string
	Path   fieldPath
}

// valueSource is what the evaluator reads: the canonical text of a field
// (see canonical in values.go), ok == false for null. recordView is one.
type valueSource interface {
	Value(p fieldPath) (string, bool)
}

// soqlMaxLength is Salesforce's limit on the length of a SOQL statement,
// in characters.
const soqlMaxLength = 100_000

// parseQuery parses and checks a Bulk API 2.0 query against the schema.
// Every error is an *apiError with status 400. Relative date literals
// (TODAY, LAST_N_DAYS:n) are resolved against the current UTC day, once.
//
// # Grammar
//
//	SELECT path [, path]... FROM Object [alias]
//	  [WHERE condition]
//	  [ORDER BY path [ASC|DESC] [NULLS FIRST|NULLS LAST] [, ...]]
//	  [LIMIT n]
//
// A path is a field of the object (Name), or one field of a parent through a
// reference field's relationship name (Account.External_Id__c, Parent.Name),
// optionally prefixed by the alias. Keywords and names are case-insensitive.
// A condition combines comparisons with NOT, AND, OR and parentheses; NOT
// binds tightest, and AND and OR may not be mixed at one level without
// parentheses (Salesforce refuses "a AND b OR c" too). Comparisons are
// path op value with op one of = != <> < <= > >=, path [NOT] IN (value,
// ...), and path LIKE 'pattern' (% and _ wildcards, \% and \_ literal).
// Values are null, true, false, quoted strings with backslash escapes
// (\n \t \r \b \f \" \' \\), integers and decimals (optionally negative),
// dates (2024-01-31), datetimes (2024-01-31T10:00:00Z, +01:00 or +0100
// offsets, optional fraction of seconds), and the date literals TODAY,
// YESTERDAY, TOMORROW, LAST_90_DAYS, NEXT_90_DAYS, LAST_N_DAYS:n,
// NEXT_N_DAYS:n and N_DAYS_AGO:n, days being UTC days.
//
// # Typing and evaluation
//
// A value must suit the field, as in Salesforce: quoted strings for text
// and id fields, unquoted numbers for numeric fields (integers only for int
// fields), true/false for booleans, date literals for date fields and
// datetime or relative date literals for datetime fields (a plain date
// against a datetime field is refused, as Salesforce refuses it). Text
// compares case-insensitively, also for < and > and LIKE; ids compare by
// their case-sensitive 15-character prefix, so 15- and 18-character forms
// are equal; numbers numerically; dates and datetimes chronologically.
// Booleans allow only =, !=, IN and NOT IN, and a null boolean counts as
// false (Salesforce: "Checkbox = null" matches false). Text in long text
// areas (textarea longer than 255) can be neither filtered nor sorted.
//
// Null follows SOQL, which has no unknown truth value: "= null" matches
// only nulls, "!= x" and NOT IN (...) without null match nulls (unlike SQL),
// while <, <=, >, >= and LIKE never match a null field. An empty quoted
// string is null for text fields, as Salesforce stores no empty text. A
// relationship path whose parent is missing is null.
//
// ORDER BY sorts nulls first unless NULLS LAST is given, in either direction
// (the SOQL reference: "By default, null values are sorted first").
//
// # Errors
//
//   - MALFORMED_QUERY: syntax errors ("unexpected token: 'FORM'"), mixed
//     AND/OR, bad escapes, invalid dates, duplicate fields, a bad LIMIT, and
//     queries over 100,000 characters.
//   - INVALID_TYPE: unknown object. INVALID_FIELD: unknown field or
//     relationship, a value of the wrong type for its field, filtering or
//     sorting a long text area.
//   - INVALID_QUERY_FILTER_OPERATOR: an operator the field's type has no use
//     for (LIKE on a number, < on a boolean), a malformed id value.
//   - API_ERROR, without a position: what Bulk API 2.0 query refuses
//     (aggregate functions, GROUP BY, HAVING, OFFSET, TYPEOF, parent-to-child
//     subqueries, FIELDS(), FOR UPDATE/VIEW/REFERENCE, UPDATE TRACKING, ALL
//     ROWS) and valid SOQL the emulator does not implement (semi-joins,
//     functions such as toLabel() or DAY_ONLY(), WITH, USING SCOPE, other
//     date literals, relationship paths of more than one level); the message
//     says which.
//
// The others, except the length error, carry Salesforce's position prefix:
// "\n<line>\n<caret>\nERROR at Row:1:Column:11\n<detail>". Codes and texts
// follow Salesforce where it is known; the API_ERROR texts, the choice of
// MALFORMED_QUERY for the length and the default null order under DESC are
// the emulator's best guess.
func parseQuery(s *Schema, soql string) (*query, error) {
	return parseQueryAt(s, soql, time.Now())
}

// parseQueryAt is parseQuery with the clock given, for relative date literals.
func parseQueryAt(s *Schema, soql string, now time.Time) (*query, error) {
	if n := utf8.RuneCountInString(soql); n > soqlMaxLength {
		return nil, badRequest("MALFORMED_QUERY", fmt.Sprintf("SOQL statements cannot be longer than %d characters; this one has %d", soqlMaxLength, n))
	}
	p := &soqlParser{src: soql, schema: s, now: now.UTC()}
	if err := p.lex(); err != nil {
		return nil, err
	}
	return p.parse()
}

type soqlTokenKind uint8

const (
	tokEOF soqlTokenKind = iota
	tokIdent
	tokString   // text is the decoded value, raw the text between the quotes
	tokNumber   // text as written, with its sign
	tokDate     // text is 2006-01-02
	tokDateTime // text is the canonical UTC form 2006-01-02T15:04:05.000Z
	tokOp       // = != <> < <= > >=
	tokPunct    // ( ) , . :
	tokOther    // a character SOQL has no use for
)

type soqlToken struct {
	kind soqlTokenKind
	text string
	raw  string
	pos  int // byte offset in the query
}

// soqlParser is a recursive-descent parser over the whole token list. It
// checks names and values against the schema as it goes.
type soqlParser struct {
	src    string
	schema *Schema
	now    time.Time
	toks   []soqlToken
	i      int
	q      *query
	alias  string
}

func (p *soqlParser) lex() error {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case isSOQLLetter(c):
			j := i + 1
			for j < len(s) && (isSOQLLetter(s[j]) || isSOQLDigit(s[j])) {
				j++
			}
			p.toks = append(p.toks, soqlToken{kind: tokIdent, text: s[i:j], pos: i})
			i = j
		case isSOQLDigit(c) || c == '-' && i+1 < len(s) && isSOQLDigit(s[i+1]):
			j, err := p.lexNumber(i)
			if err != nil {
				return err
			}
			i = j
		case c == '\'':
			j, err := p.lexString(i)
			if err != nil {
				return err
			}
			i = j
		case c == '=' || c == '<' || c == '>' || c == '!':
			j := i + 1
			if j < len(s) && (s[j] == '=' || c == '<' && s[j] == '>') && c != '=' {
				j++
			}
			kind := tokOp
			if s[i:j] == "!" {
				kind = tokOther
			}
			p.toks = append(p.toks, soqlToken{kind: kind, text: s[i:j], pos: i})
			i = j
		case strings.IndexByte("(),.:", c) >= 0:
			p.toks = append(p.toks, soqlToken{kind: tokPunct, text: s[i : i+1], pos: i})
			i++
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			p.toks = append(p.toks, soqlToken{kind: tokOther, text: s[i : i+size], pos: i})
			i += size
		}
	}
	p.toks = append(p.toks, soqlToken{kind: tokEOF, pos: len(s)})
	return nil
}

func isSOQLLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isSOQLDigit(c byte) bool  { return c >= '0' && c <= '9' }

// lexNumber reads a number, a date or a datetime starting at i and returns
// the offset after it.
func (p *soqlParser) lexNumber(i int) (int, error) {
	s := p.src
	digits := func(j int) int {
		for j < len(s) && isSOQLDigit(s[j]) {
			j++
		}
		return j
	}
	j := digits(i + 1)
	if j-i == 4 && j+6 <= len(s) && s[j] == '-' && s[j+3] == '-' && digits(j+1) == j+3 && digits(j+4) == j+6 {
		return p.lexDate(i, j+6)
	}
	if j+1 < len(s) && s[j] == '.' && isSOQLDigit(s[j+1]) {
		j = digits(j + 1)
	}
	p.toks = append(p.toks, soqlToken{kind: tokNumber, text: s[i:j], pos: i})
	return j, nil
}

// lexDate reads the date s[i:j] and the time and zone that may follow it.
func (p *soqlParser) lexDate(i, j int) (int, error) {
	s := p.src
	if j+1 >= len(s) || s[j] != 'T' || !isSOQLDigit(s[j+1]) {
		if _, err := time.Parse("2006-01-02", s[i:j]); err != nil {
			return 0, p.fail("MALFORMED_QUERY", i, "Invalid date: "+s[i:j])
		}
		p.toks = append(p.toks, soqlToken{kind: tokDate, text: s[i:j], pos: i})
		return j, nil
	}
	for j++; j < len(s) && (isSOQLDigit(s[j]) || s[j] == ':' || s[j] == '.'); j++ {
	}
	if j < len(s) && s[j] == 'Z' {
		j++
	} else if j < len(s) && (s[j] == '+' || s[j] == '-') {
		for j++; j < len(s) && (isSOQLDigit(s[j]) || s[j] == ':'); j++ {
		}
	}
	t, ok := parseDateTime(s[i:j])
	if !ok {
		return 0, p.fail("MALFORMED_QUERY", i, "Invalid datetime: "+s[i:j])
	}
	p.toks = append(p.toks, soqlToken{kind: tokDateTime, text: t.UTC().Format("2006-01-02T15:04:05.000Z"), raw: s[i:j], pos: i})
	return j, nil
}

// soqlEscapes are the escape sequences of quoted SOQL strings. \% and \_
// stand for a literal % and _ (they matter in LIKE patterns).
var soqlEscapes = map[byte]rune{
	'n': '\n', 'N': '\n', 't': '\t', 'T': '\t', 'r': '\r', 'R': '\r',
	'b': '\b', 'B': '\b', 'f': '\f', 'F': '\f',
	'"': '"', '\'': '\'', '\\': '\\', '%': '%', '_': '_',
}

func (p *soqlParser) lexString(i int) (int, error) {
	s := p.src
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\'':
			p.toks = append(p.toks, soqlToken{kind: tokString, text: b.String(), raw: s[i+1 : j], pos: i})
			return j + 1, nil
		case c == '\\' && j+1 < len(s):
			r, ok := soqlEscapes[s[j+1]]
			if !ok {
				_, size := utf8.DecodeRuneInString(s[j+1:])
				return 0, p.fail("MALFORMED_QUERY", j, fmt.Sprintf("Invalid string literal '%s'. Illegal character sequence '\\%s' in string literal.", s[i+1:j], s[j+1:j+1+size]))
			}
			b.WriteRune(r)
			j++
		default:
			b.WriteByte(c)
		}
	}
	return 0, p.fail("MALFORMED_QUERY", len(s), "mismatched character '<EOF>' expecting '''")
}

// fail returns a positioned Salesforce parser error for the query text.
func (p *soqlParser) fail(code string, pos int, detail string) error {
	src := p.src
	start := strings.LastIndexByte(src[:pos], '\n') + 1
	end := len(src)
	if k := strings.IndexByte(src[pos:], '\n'); k >= 0 {
		end = pos + k
	}
	row := strings.Count(src[:start], "\n") + 1
	col := utf8.RuneCountInString(src[start:pos]) + 1
	return badRequest(code, fmt.Sprintf("\n%s\n%s^\nERROR at Row:%d:Column:%d\n%s", src[start:end], strings.Repeat(" ", col-1), row, col, detail))
}

// unsupported is the error for SOQL that Bulk API 2.0 query, or the
// emulator, does not run. Salesforce reports those without a position.
func unsupported(format string, args ...any) error {
	return badRequest("API_ERROR", fmt.Sprintf(format, args...))
}

func (p *soqlParser) peek() soqlToken { return p.toks[p.i] }

// peekAt returns the token n places ahead, or the final EOF.
func (p *soqlParser) peekAt(n int) soqlToken { return p.toks[min(p.i+n, len(p.toks)-1)] }

func (p *soqlParser) next() soqlToken {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (t soqlToken) is(kind soqlTokenKind, text string) bool {
	return t.kind == kind && strings.EqualFold(t.text, text)
}

func (t soqlToken) isKeyword(kw string) bool { return t.is(tokIdent, kw) }

func (p *soqlParser) unexpected(t soqlToken) error {
	text := t.text
	if t.kind == tokEOF {
		text = "<EOF>"
	} else if t.raw != "" {
		text = t.raw // as written: strings undecoded, datetimes with their offset
	}
	return p.fail("MALFORMED_QUERY", t.pos, fmt.Sprintf("unexpected token: '%s'", text))
}

func (p *soqlParser) expect(kind soqlTokenKind, text string) error {
	if t := p.next(); !t.is(kind, text) {
		return p.unexpected(t)
	}
	return nil
}

// soqlClauses are the words that may follow FROM Object, so they are never
// an alias. The message is set for clauses that are refused.
var soqlClauses = map[string]string{
	"WHERE": "", "ORDER": "", "LIMIT": "",
	"GROUP":  "GROUP BY is not supported in Bulk API 2.0 query",
	"HAVING": "HAVING is not supported in Bulk API 2.0 query",
	"OFFSET": "OFFSET is not supported in Bulk API 2.0 query",
	"FOR":    "FOR UPDATE, FOR VIEW and FOR REFERENCE are not supported in Bulk API 2.0 query",
	"UPDATE": "UPDATE TRACKING and UPDATE VIEWSTAT are not supported in Bulk API 2.0 query",
	"ALL":    "ALL ROWS is not supported in Bulk API 2.0 query; use the queryAll operation",
	"WITH":   "WITH clauses are not supported by the Bulkstream emulator",
	"USING":  "USING SCOPE is not supported by the Bulkstream emulator",
}

// soqlPath is a dotted name as written, before it is resolved.
type soqlPath struct {
	parts []string
	pos   int
}

func (p *soqlParser) parse() (*query, error) {
	if err := p.expect(tokIdent, "SELECT"); err != nil {
		return nil, err
	}
	var selected []soqlPath
	for {
		path, err := p.selectItem()
		if err != nil {
			return nil, err
		}
		selected = append(selected, path)
		if !p.peek().is(tokPunct, ",") {
			break
		}
		p.next()
	}
	if err := p.expect(tokIdent, "FROM"); err != nil {
		return nil, err
	}
	t := p.next()
	if t.kind != tokIdent {
		return nil, p.unexpected(t)
	}
	obj := p.schema.Object(t.text)
	if obj == nil {
		return nil, p.fail("INVALID_TYPE", t.pos, fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", t.text))
	}
	p.q = &query{Object: obj, Limit: -1}
	if a := p.peek(); a.kind == tokIdent {
		if _, clause := soqlClauses[strings.ToUpper(a.text)]; !clause {
			p.alias = a.text
			p.next()
		}
	}
	if err := p.resolveColumns(selected); err != nil {
		return nil, err
	}
	if p.peek().isKeyword("WHERE") {
		p.next()
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		p.q.where = c
	}
	if p.peek().isKeyword("ORDER") {
		p.next()
		if err := p.orderBy(); err != nil {
			return nil, err
		}
	}
	if p.peek().isKeyword("LIMIT") {
		p.next()
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tokNumber || strings.HasPrefix(t.text, "-") || err != nil || n > math.MaxInt32 {
			return nil, p.unexpected(t)
		}
		p.q.Limit = n
	}
	if t := p.peek(); t.kind != tokEOF {
		if msg := soqlClauses[strings.ToUpper(t.text)]; t.kind == tokIdent && msg != "" {
			return nil, unsupported("%s", msg)
		}
		return nil, p.unexpected(t)
	}
	return p.q, nil
}

// selectItem reads one entry of the SELECT list, refusing the forms Bulk API
// 2.0 query does not run.
func (p *soqlParser) selectItem() (soqlPath, error) {
	t, after := p.peek(), p.peekAt(1)
	switch {
	case t.is(tokPunct, "(") && after.isKeyword("SELECT"):
		return soqlPath{}, unsupported("Aggregate Relationships not supported in Bulk V2 Query with CSV content type.")
	case t.isKeyword("TYPEOF") && after.kind == tokIdent && !after.isKeyword("FROM"):
		return soqlPath{}, unsupported("TYPEOF is not supported in Bulk API 2.0 query")
	}
	return p.path()
}

// path reads a dotted field name. A function call in its place is refused.
func (p *soqlParser) path() (soqlPath, error) {
	t := p.next()
	if t.kind != tokIdent {
		return soqlPath{}, p.unexpected(t)
	}
	if p.peek().is(tokPunct, "(") {
		switch name := strings.ToUpper(t.text); name {
		case "COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX":
			return soqlPath{}, unsupported("Aggregate functions such as %s() are not supported in Bulk API 2.0 query", name)
		case "FIELDS":
			return soqlPath{}, unsupported("FIELDS() is not supported in Bulk API 2.0 query")
		default:
			return soqlPath{}, unsupported("The function %s() is not supported by the Bulkstream emulator", t.text)
		}
	}
	path := soqlPath{parts: []string{t.text}, pos: t.pos}
	for p.peek().is(tokPunct, ".") {
		p.next()
		t := p.next()
		if t.kind != tokIdent {
			return soqlPath{}, p.unexpected(t)
		}
		path.parts = append(path.parts, t.text)
	}
	return path, nil
}

func (p *soqlParser) resolveColumns(selected []soqlPath) error {
	seen := map[fieldPath]bool{}
	for _, sp := range selected {
		fp, header, err := p.resolve(sp)
		if err != nil {
			return err
		}
		if seen[fp] {
			return p.fail("MALFORMED_QUERY", sp.pos, "duplicate field selected: "+header)
		}
		seen[fp] = true
		p.q.Columns = append(p.q.Columns, column{Header: header, Path: fp})
	}
	return nil
}

// condition reads comparisons joined by AND or by OR; a mix of both at one
// level is a syntax error in SOQL.
func (p *soqlParser) condition() (soqlCond, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	items, joiner := []soqlCond{first}, ""
	for t := p.peek(); t.isKeyword("AND") || t.isKeyword("OR"); t = p.peek() {
		if joiner == "" {
			joiner = strings.ToUpper(t.text)
		} else if !t.isKeyword(joiner) {
			return nil, p.unexpected(t)
		}
		p.next()
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		items = append(items, c)
	}
	switch joiner {
	case "AND":
		return allOf(items), nil
	case "OR":
		return anyOf(items), nil
	}
	return first, nil
}

func (p *soqlParser) unary() (soqlCond, error) {
	switch t := p.peek(); {
	case t.isKeyword("NOT"):
		p.next()
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notOf{c}, nil
	case t.is(tokPunct, "("):
		p.next()
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		return c, p.expect(tokPunct, ")")
	}
	return p.comparison()
}

var soqlOps = map[string]soqlOp{"=": opEq, "!=": opNe, "<>": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

func (p *soqlParser) comparison() (soqlCond, error) {
	fp, err := p.filterable("filtered")
	if err != nil {
		return nil, err
	}
	c := &soqlCompare{path: fp, kind: soqlKindOf(fp.Field.Type)}
	t := p.next()
	switch {
	case t.kind == tokOp:
		c.op = soqlOps[t.text]
	case t.isKeyword("IN"):
		c.op = opIn
	case t.isKeyword("NOT") && p.peek().isKeyword("IN"):
		p.next()
		c.op = opNotIn
	case t.isKeyword("LIKE"):
		c.op = opLike
	default:
		return nil, p.unexpected(t)
	}
	if err := p.checkOperator(c, t); err != nil {
		return nil, err
	}
	if c.op != opIn && c.op != opNotIn {
		v, err := p.value(fp.Field, c.op == opLike)
		if err != nil {
			return nil, err
		}
		c.vals = []soqlLiteral{v}
		return c, nil
	}
	if err := p.expect(tokPunct, "("); err != nil {
		return nil, err
	}
	if p.peek().isKeyword("SELECT") {
		return nil, unsupported("Semi-join and anti-join subqueries (IN (SELECT ...)) are not supported by the Bulkstream emulator")
	}
	for {
		v, err := p.value(fp.Field, false)
		if err != nil {
			return nil, err
		}
		c.vals = append(c.vals, v)
		if t := p.next(); t.is(tokPunct, ")") {
			return c, nil
		} else if !t.is(tokPunct, ",") {
			return nil, p.unexpected(t)
		}
	}
}

// checkOperator refuses operators that make no sense for the field's type.
func (p *soqlParser) checkOperator(c *soqlCompare, t soqlToken) error {
	ordering := c.op == opLt || c.op == opLe || c.op == opGt || c.op == opGe
	if c.op == opLike && c.kind != soqlText || ordering && c.kind == soqlBool {
		return p.fail("INVALID_QUERY_FILTER_OPERATOR", t.pos, fmt.Sprintf("invalid operator on %s field", soqlTypeName(c.path.Field.Type)))
	}
	return nil
}

func (p *soqlParser) orderBy() error {
	if err := p.expect(tokIdent, "BY"); err != nil {
		return err
	}
	for {
		fp, err := p.filterable("sorted")
		if err != nil {
			return err
		}
		term := soqlOrderTerm{path: fp, kind: soqlKindOf(fp.Field.Type)}
		if t := p.peek(); t.isKeyword("ASC") || t.isKeyword("DESC") {
			term.desc = t.isKeyword("DESC")
			p.next()
		}
		if p.peek().isKeyword("NULLS") {
			p.next()
			switch t := p.next(); {
			case t.isKeyword("LAST"):
				term.nullsLast = true
			case !t.isKeyword("FIRST"):
				return p.unexpected(t)
			}
		}
		p.q.order = append(p.q.order, term)
		if !p.peek().is(tokPunct, ",") {
			return nil
		}
		p.next()
	}
}
