package bulkemu

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Match reports whether a record satisfies the query's WHERE clause; it is
// true when there is none.
func (q *query) Match(v valueSource) bool { return q.where == nil || q.where.match(v) }

// HasOrder reports whether the query has an ORDER BY clause.
func (q *query) HasOrder() bool { return len(q.order) > 0 }

// Less reports whether record a sorts before record b under the query's
// ORDER BY; it is false for every pair when there is none, so a stable sort
// keeps the store's order.
func (q *query) Less(a, b valueSource) bool {
	for _, t := range q.order {
		va, oka := soqlRead(a, t.path, t.kind)
		vb, okb := soqlRead(b, t.path, t.kind)
		switch {
		case !oka && !okb:
			continue
		case !oka:
			return !t.nullsLast
		case !okb:
			return t.nullsLast
		}
		k := soqlCompareValues(t.kind, va, vb)
		if k == 0 {
			continue
		}
		return (k < 0) != t.desc
	}
	return false
}

type soqlOrderTerm struct {
	path      fieldPath
	kind      soqlKind
	desc      bool
	nullsLast bool
}

// soqlKind is how values of a field compare.
type soqlKind uint8

const (
	soqlText     soqlKind = iota // case-insensitively
	soqlID                       // by the case-sensitive 15-character prefix
	soqlNumber                   // numerically
	soqlBool                     // false < true; null is false
	soqlDate                     // canonical 2006-01-02 text orders chronologically
	soqlDateTime                 // canonical UTC text orders chronologically
)

func soqlKindOf(t FieldType) soqlKind {
	switch t {
	case TypeID, TypeReference:
		return soqlID
	case TypeBoolean:
		return soqlBool
	case TypeInt, TypeDouble, TypeCurrency, TypePercent:
		return soqlNumber
	case TypeDate:
		return soqlDate
	case TypeDateTime:
		return soqlDateTime
	}
	return soqlText
}

// soqlTypeName is the type name Salesforce's SOQL messages use.
func soqlTypeName(t FieldType) string {
	switch t {
	case TypeInt:
		return "integer"
	case TypeDateTime:
		return "dateTime"
	case TypeID, TypeReference:
		return "id"
	case TypeBoolean, TypeDouble, TypeCurrency, TypePercent, TypeDate:
		return string(t)
	}
	return "string"
}

// soqlRead reads a field; a null boolean reads as false, as in Salesforce,
// where checkboxes are never null.
func soqlRead(v valueSource, p fieldPath, kind soqlKind) (string, bool) {
	s, ok := v.Value(p)
	if !ok && kind == soqlBool {
		return "false", true
	}
	return s, ok
}

// soqlCond is a node of a WHERE clause.
type soqlCond interface {
	match(v valueSource) bool
}

type allOf []soqlCond

func (c allOf) match(v valueSource) bool {
	for _, x := range c {
		if !x.match(v) {
			return false
		}
	}
	return true
}

type anyOf []soqlCond

func (c anyOf) match(v valueSource) bool {
	for _, x := range c {
		if x.match(v) {
			return true
		}
	}
	return false
}

type notOf struct{ c soqlCond }

func (c notOf) match(v valueSource) bool { return !c.c.match(v) }

type soqlOp uint8

const (
	opEq soqlOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opLike
	opIn
	opNotIn
)

// soqlCompare is one comparison of a field with a value, or with a list of
// values for IN and NOT IN.
type soqlCompare struct {
	path fieldPath
	kind soqlKind
	op   soqlOp
	vals []soqlLiteral
}

// soqlLiteral is a value of a WHERE clause, typed for its field. Dates and
// datetimes are ranges, lo and hi inclusive (TODAY is a whole day); other
// values have lo == hi.
type soqlLiteral struct {
	null    bool
	lo, hi  string      // text, id prefix, true/false, canonical dates
	num     float64     // numbers
	pattern likePattern // LIKE
}

func (c *soqlCompare) match(v valueSource) bool {
	s, ok := soqlRead(v, c.path, c.kind)
	switch c.op {
	case opEq:
		return c.equal(s, ok, &c.vals[0])
	case opNe:
		return !c.equal(s, ok, &c.vals[0])
	case opIn, opNotIn:
		in := false
		for i := range c.vals {
			if c.equal(s, ok, &c.vals[i]) {
				in = true
				break
			}
		}
		return in == (c.op == opIn)
	case opLike:
		return ok && c.vals[0].pattern.match(s)
	}
	lit := &c.vals[0]
	if !ok || lit.null {
		return false
	}
	below, above, valid := c.position(s, lit)
	switch c.op {
	case opLt:
		return valid && below
	case opLe:
		return valid && !above
	case opGt:
		return valid && above
	}
	return valid && !below // opGe
}

func (c *soqlCompare) equal(s string, ok bool, lit *soqlLiteral) bool {
	if !ok || lit.null {
		return !ok && lit.null
	}
	below, above, valid := c.position(s, lit)
	return valid && !below && !above
}

// position tells whether s lies below or above the literal's range; valid
// is false when s cannot be read as the field's type.
func (c *soqlCompare) position(s string, lit *soqlLiteral) (below, above, valid bool) {
	switch c.kind {
	case soqlNumber:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) {
			return false, false, false
		}
		return x < lit.num, x > lit.num, true
	case soqlText:
		k := soqlCompareFold(s, lit.lo)
		return k < 0, k > 0, true
	case soqlID:
		k := soqlIDKey(s)
		return k < lit.lo, k > lit.hi, true
	}
	return s < lit.lo, s > lit.hi, true
}

// soqlCompareValues orders two non-null values of a kind for ORDER BY. Text
// that is not a number sorts after all numbers, so the order stays total.
func soqlCompareValues(kind soqlKind, a, b string) int {
	switch kind {
	case soqlNumber:
		x, errX := strconv.ParseFloat(a, 64)
		y, errY := strconv.ParseFloat(b, 64)
		switch {
		case errX == nil && errY == nil:
			return cmp.Compare(x, y)
		case errX == nil:
			return -1
		case errY == nil:
			return 1
		}
	case soqlText:
		return soqlCompareFold(a, b)
	case soqlID:
		return strings.Compare(soqlIDKey(a), soqlIDKey(b))
	}
	return strings.Compare(a, b)
}

// soqlIDKey is the case-sensitive 15-character form that an id's 15- and
// 18-character spellings share.
func soqlIDKey(id string) string {
	if len(id) > 15 {
		return id[:15]
	}
	return id
}

// soqlCompareFold compares two strings rune by rune, ignoring case.
func soqlCompareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			if la, lb := unicode.ToLower(ra), unicode.ToLower(rb); la != lb {
				return cmp.Compare(la, lb)
			}
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// likePattern is a compiled LIKE pattern: literal runes (lower-cased) and
// the wildcards _ (any one rune) and % (any run of runes).
type likePattern []likeElem

type likeElem struct {
	r    rune
	kind uint8 // likeRune, likeOne or likeRun
}

const (
	likeRune = iota
	likeOne
	likeRun
)

// compileLike compiles the text between the quotes of a LIKE value; the
// lexer has already checked its escapes.
func compileLike(raw string) likePattern {
	var pat likePattern
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRuneInString(raw[i:])
		switch r {
		case '\\':
			pat = append(pat, likeElem{r: unicode.ToLower(soqlEscapes[raw[i+1]])})
			size = 2
		case '%':
			pat = append(pat, likeElem{kind: likeRun})
		case '_':
			pat = append(pat, likeElem{kind: likeOne})
		default:
			pat = append(pat, likeElem{r: unicode.ToLower(r)})
		}
		i += size
	}
	return pat
}

// match reports whether all of s matches the pattern, ignoring case. It
// backtracks to the last % only, so it runs in O(len(s)·len(pattern)).
func (pat likePattern) match(s string) bool {
	p, i := 0, 0
	star, starAt := -1, 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if p < len(pat) && (pat[p].kind == likeOne || pat[p].kind == likeRune && pat[p].r == unicode.ToLower(r)) {
			p++
			i += size
			continue
		}
		if p < len(pat) && pat[p].kind == likeRun {
			star, starAt = p, i
			p++
			continue
		}
		if star < 0 {
			return false
		}
		_, skip := utf8.DecodeRuneInString(s[starAt:])
		starAt += skip
		p, i = star+1, starAt
	}
	for p < len(pat) && pat[p].kind == likeRun {
		p++
	}
	return p == len(pat)
}

// resolve finds the field a path names and the header that spells it as
// the schema does.
func (p *soqlParser) resolve(sp soqlPath) (fieldPath, string, error) {
	o, parts := p.q.Object, sp.parts
	if len(parts) > 1 && p.alias != "" && strings.EqualFold(parts[0], p.alias) {
		parts = parts[1:]
	}
	if len(parts) == 1 {
		f := o.Field(parts[0])
		if f == nil {
			return fieldPath{}, "", p.noSuchColumn(sp.pos, parts[0], o)
		}
		return fieldPath{Field: f}, f.Name, nil
	}
	rel := o.Relationship(parts[0])
	if rel == nil {
		return fieldPath{}, "", p.unknownRelationship(sp.pos, parts[0])
	}
	parent := p.schema.Object(rel.ReferenceTo)
	if len(parts) > 2 {
		if parent.Relationship(parts[1]) != nil {
			return fieldPath{}, "", unsupported("Relationship paths of more than one level (%s) are not supported by the Bulkstream emulator", strings.Join(sp.parts, "."))
		}
		return fieldPath{}, "", p.unknownRelationship(sp.pos, parts[1])
	}
	f := parent.Field(parts[1])
	if f == nil {
		return fieldPath{}, "", p.noSuchColumn(sp.pos, parts[1], parent)
	}
	return fieldPath{Rel: rel, Field: f}, rel.RelationshipName + "." + f.Name, nil
}

func (p *soqlParser) noSuchColumn(pos int, name string, o *Object) error {
	return p.fail("INVALID_FIELD", pos, fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", name, o.Name))
}

func (p *soqlParser) unknownRelationship(pos int, name string) error {
	return p.fail("INVALID_FIELD", pos, fmt.Sprintf("Didn't understand relationship '%s' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.", name))
}

// filterable resolves a path used in WHERE or ORDER BY, where long text
// areas are not allowed; verb is "filtered" or "sorted".
func (p *soqlParser) filterable(verb string) (fieldPath, error) {
	sp, err := p.path()
	if err != nil {
		return fieldPath{}, err
	}
	fp, _, err := p.resolve(sp)
	if err != nil {
		return fieldPath{}, err
	}
	if fp.Field.Type == TypeTextArea && fp.Field.Length > 255 {
		return fieldPath{}, p.fail("INVALID_FIELD", sp.pos, fmt.Sprintf("field '%s' can not be %s in query call", fp.Field.Name, verb))
	}
	return fp, nil
}

// value reads one value of a WHERE clause and types it for field f. A LIKE
// pattern (like set) must be a quoted string.
func (p *soqlParser) value(f *Field, like bool) (soqlLiteral, error) {
	t := p.next()
	n, hasN := 0, false
	switch t.kind {
	case tokString, tokNumber, tokDate, tokDateTime:
	case tokIdent:
		if p.peek().is(tokPunct, ":") {
			p.next()
			nt := p.next()
			v, err := strconv.Atoi(nt.text)
			if nt.kind != tokNumber || strings.HasPrefix(nt.text, "-") || err != nil || v > math.MaxInt32 {
				return soqlLiteral{}, p.unexpected(nt)
			}
			n, hasN = v, true
		}
	default:
		return soqlLiteral{}, p.unexpected(t)
	}
	kind := soqlKindOf(f.Type)
	days := false
	var lo, hi int
	if t.kind == tokIdent {
		switch word := strings.ToUpper(t.text); {
		case word == "NULL" && !hasN:
			if like {
				return soqlLiteral{}, p.wrongType(t, f)
			}
			if kind == soqlBool {
				return soqlLiteral{lo: "false", hi: "false"}, nil
			}
			return soqlLiteral{null: true}, nil
		case (word == "TRUE" || word == "FALSE") && !hasN:
			if kind != soqlBool {
				return soqlLiteral{}, p.wrongType(t, f)
			}
			word = strings.ToLower(word)
			return soqlLiteral{lo: word, hi: word}, nil
		default:
			var withN, known bool
			lo, hi, withN, known = soqlDayRange(word, n)
			if known && withN != hasN {
				return soqlLiteral{}, p.unexpected(t)
			}
			if !known {
				for _, prefix := range []string{"THIS_", "LAST_", "NEXT_", "N_"} {
					if strings.HasPrefix(word, prefix) {
						return soqlLiteral{}, unsupported("The date literal %s is not supported by the Bulkstream emulator; it knows TODAY, YESTERDAY, TOMORROW, LAST_90_DAYS, NEXT_90_DAYS, LAST_N_DAYS:n, NEXT_N_DAYS:n and N_DAYS_AGO:n", word)
					}
				}
				return soqlLiteral{}, p.unexpected(t)
			}
			days = true
		}
	}
	switch {
	case like || kind == soqlText:
		if t.kind != tokString {
			return soqlLiteral{}, p.wrongType(t, f)
		}
		if like {
			return soqlLiteral{pattern: compileLike(t.raw)}, nil
		}
		// Salesforce stores no empty text: '' is null.
		return soqlLiteral{null: t.text == "", lo: t.text, hi: t.text}, nil
	case kind == soqlID:
		if t.kind != tokString {
			return soqlLiteral{}, p.wrongType(t, f)
		}
		if !soqlLooksLikeID(t.text) {
			return soqlLiteral{}, p.fail("INVALID_QUERY_FILTER_OPERATOR", t.pos, "invalid ID field: "+t.text)
		}
		k := soqlIDKey(t.text)
		return soqlLiteral{lo: k, hi: k}, nil
	case kind == soqlNumber:
		x, err := strconv.ParseFloat(t.text, 64)
		if t.kind != tokNumber || err != nil || f.Type == TypeInt && strings.Contains(t.text, ".") {
			return soqlLiteral{}, p.wrongType(t, f)
		}
		return soqlLiteral{num: x}, nil
	case kind == soqlDate && t.kind == tokDate, kind == soqlDateTime && t.kind == tokDateTime:
		return soqlLiteral{lo: t.text, hi: t.text}, nil
	case days && kind == soqlDate:
		return soqlLiteral{lo: p.day(lo), hi: p.day(hi)}, nil
	case days && kind == soqlDateTime:
		return soqlLiteral{lo: p.day(lo) + "T00:00:00.000Z", hi: p.day(hi) + "T23:59:59.999Z"}, nil
	}
	return soqlLiteral{}, p.wrongType(t, f)
}

func (p *soqlParser) wrongType(t soqlToken, f *Field) error {
	quotes := "should not be enclosed in quotes"
	if k := soqlKindOf(f.Type); k == soqlText || k == soqlID {
		quotes = "should be enclosed in quotes"
	}
	return p.fail("INVALID_FIELD", t.pos, fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and %s", f.Name, soqlTypeName(f.Type), quotes))
}

// soqlLooksLikeID accepts the 15- and 18-character alphanumeric forms.
func soqlLooksLikeID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isSOQLLetter(c) && !isSOQLDigit(c) || c == '_' {
			return false
		}
	}
	return true
}

// soqlDayRange resolves a relative date literal to its first and last day,
// counted from today. withN tells whether the literal takes a :n; known is
// false for any other word.
func soqlDayRange(word string, n int) (lo, hi int, withN, known bool) {
	switch word {
	case "TODAY":
		return 0, 0, false, true
	case "YESTERDAY":
		return -1, -1, false, true
	case "TOMORROW":
		return 1, 1, false, true
	case "LAST_90_DAYS":
		return -90, 0, false, true
	case "NEXT_90_DAYS":
		return 1, 90, false, true
	case "LAST_N_DAYS":
		return -n, 0, true, true
	case "NEXT_N_DAYS":
		return 1, n, true, true
	case "N_DAYS_AGO":
		return -n, -n, true, true
	}
	return 0, 0, false, false
}

// day formats today plus offset days (UTC), clamped to the years 1–9999 so
// that the text still orders chronologically. The offset is at most 2³¹
// days either way, far inside time.Time's range.
func (p *soqlParser) day(offset int) string {
	y, m, d := p.now.Date()
	t := time.Date(y, m, d+offset, 0, 0, 0, 0, time.UTC)
	if first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); t.Before(first) {
		t = first
	} else if last := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC); t.After(last) {
		t = last
	}
	return t.Format("2006-01-02")
}
