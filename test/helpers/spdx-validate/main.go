// Validates SPDX 2.3 JSON documents with SPDX's own Go library, tools-golang (Debian's
// golang-github-spdx-tools-golang-dev, built by test/helpers/spdx-tools.ts): its reader (field
// types, SPDX identifiers, the supplier and creator forms), spdxlib.ValidateDocument (every
// relationship names an element the document defines), and a write-back through its SPDX 2.3
// model, where a field the model does not have is lost: such fields are reported by path.
// Usage: spdx-validate FILE...; prints one line per problem, exits 1 when there is any.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/spdxlib"
)

func main() {
	failed := false
	for _, file := range os.Args[1:] {
		for _, problem := range validate(file) {
			fmt.Printf("%s: %s\n", file, problem)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func validate(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	var doc v2_3.Document
	if err := spdxjson.ReadInto(bytes.NewReader(data), &doc); err != nil {
		return []string{"tools-golang cannot read it: " + err.Error()}
	}
	var problems []string
	if doc.SPDXVersion != v2_3.Version {
		problems = append(problems, "spdxVersion is "+doc.SPDXVersion+", not "+v2_3.Version)
	}
	if err := spdxlib.ValidateDocument(&doc); err != nil {
		problems = append(problems, "spdxlib: "+err.Error())
	}
	var written bytes.Buffer
	if err := spdxjson.Write(&doc, &written); err != nil {
		return append(problems, "tools-golang cannot write it back: "+err.Error())
	}
	var before, after interface{}
	if err := json.Unmarshal(data, &before); err != nil {
		return append(problems, err.Error())
	}
	if err := json.Unmarshal(written.Bytes(), &after); err != nil {
		return append(problems, err.Error())
	}
	kept := map[string]bool{}
	fieldPaths(after, "", kept)
	ours := map[string]bool{}
	fieldPaths(before, "", ours)
	var lost []string
	for path := range ours {
		if !kept[path] {
			lost = append(lost, path)
		}
	}
	sort.Strings(lost)
	for _, path := range lost {
		problems = append(problems, "a field the SPDX 2.3 model does not have (or an empty one): "+path)
	}
	return problems
}

// fieldPaths collects the path of every object field, arrays' items under "[]".
func fieldPaths(value interface{}, prefix string, into map[string]bool) {
	switch v := value.(type) {
	case map[string]interface{}:
		for key, child := range v {
			path := prefix + "." + key
			into[path] = true
			fieldPaths(child, path, into)
		}
	case []interface{}:
		for _, child := range v {
			fieldPaths(child, prefix+"[]", into)
		}
	}
}
