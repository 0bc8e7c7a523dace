package file

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/pilotlight/pilotlight/discovery/convert"
)

// minQuoted is the shortest value whose appearance in a message counts as
// quoting it; shorter ones (a "0", an "a") occur in messages by chance.
const minQuoted = 6

// redactSecret withholds any problem message of a Secret that quotes one
// of its values. Decoding errors come from libraries that may echo what
// they could not parse; pilotlight's own messages never do, and this
// makes sure no library's does either, whatever the input.
func redactSecret(it item, js []byte) item {
	if it.key.Kind != convert.KindSecret || len(it.problems) == 0 {
		return it
	}
	values := secretValues(js)
	for i, p := range it.problems {
		for _, v := range values {
			if strings.Contains(p.Message, v) || strings.Contains(p.Field, v) {
				it.problems[i].Message = "the Secret cannot be decoded (details withheld: they would quote its data)"
				it.problems[i].Field = ""
				break
			}
		}
	}
	return it
}

// secretValues lists the values of a Secret document's data and
// stringData as written, and decoded where they are base64, that are
// long enough to be recognised in a message.
func secretValues(js []byte) []string {
	var doc struct {
		Data       map[string]any `json:"data"`
		StringData map[string]any `json:"stringData"`
	}
	if json.Unmarshal(js, &doc) != nil {
		// A body that does not parse as JSON objects cannot have been
		// decoded far enough to be quoted piecewise; withhold everything
		// that mentions anything at all.
		return []string{""}
	}
	var out []string
	add := func(s string) {
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); len(line) >= minQuoted {
				out = append(out, line)
			}
		}
	}
	for _, m := range []map[string]any{doc.Data, doc.StringData} {
		for _, v := range m {
			s, ok := v.(string)
			if !ok {
				b, _ := json.Marshal(v)
				s = string(b)
			}
			add(s)
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				add(string(raw))
			}
		}
	}
	return out
}
