package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
)

type out struct {
	Err     string               `json:"err,omitempty"`
	Path    string               `json:"path"`
	Raw     string               `json:"rawQuery"`
	Query   map[string][]string  `json:"query"`
	Info    *request.RequestInfo `json:"info,omitempty"`
	InfoErr string               `json:"infoErr,omitempty"`
	// ListErr: why ListOptions fail to decode from this query (NewRequestInfo then drops the
	// metadata.name pin, and the list handler answers 400).
	ListErr string `json:"listErr,omitempty"`
}

func main() {
	f := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, "\t")
		switch kind {
		case "req":
			method, target, _ := strings.Cut(rest, "\t")
			// The test line carries the target's bytes in base64: any byte, even invalid UTF-8.
			raw, err := base64.StdEncoding.DecodeString(target)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bad base64", line)
				os.Exit(2)
			}
			target = string(raw)
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n")))
			if err != nil {
				enc.Encode(out{Err: err.Error()})
				continue
			}
			o := out{Path: r.URL.Path, Raw: r.URL.RawQuery, Query: r.URL.Query()}
			info, ierr := f.NewRequestInfo(r)
			o.Info = info
			if ierr != nil {
				o.InfoErr = ierr.Error()
			}
			opts := metainternalversion.ListOptions{}
			if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
				o.ListErr = err.Error()
			}
			enc.Encode(o)
		case "field":
			s, err := fields.ParseSelector(rest)
			if err != nil {
				enc.Encode(map[string]any{"err": err.Error()})
				continue
			}
			name, ok := s.RequiresExactMatch("metadata.name")
			enc.Encode(map[string]any{"reqs": s.Requirements(), "name": name, "found": ok})
		case "label":
			s, err := labels.Parse(rest)
			if err != nil {
				enc.Encode(map[string]any{"err": err.Error()})
				continue
			}
			reqs, _ := s.Requirements()
			type R struct {
				Key, Op string
				Values  []string
			}
			var rs []R
			for _, q := range reqs {
				rs = append(rs, R{q.Key(), string(q.Operator()), q.ValuesUnsorted()})
			}
			enc.Encode(map[string]any{"reqs": rs, "string": s.String()})
		default:
			fmt.Fprintln(os.Stderr, "bad line", line)
		}
	}
}
