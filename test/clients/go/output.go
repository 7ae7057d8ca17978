package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Output lines are structs (not maps) so the keys keep a stable order.

type pageLine struct {
	Type            string   `json:"type"` // "page"
	ResourceVersion string   `json:"resourceVersion"`
	Continue        string   `json:"continue"`
	Count           int      `json:"count"`
	Names           []string `json:"names"`
}

type listLine struct {
	Type            string   `json:"type"` // "list"
	ResourceVersion string   `json:"resourceVersion"`
	Count           int      `json:"count"`
	Pages           int      `json:"pages"`
	Names           []string `json:"names"`
}

type eventLine struct {
	Type            string `json:"type"` // ADDED, MODIFIED, DELETED, BOOKMARK
	Name            string `json:"name"`
	ResourceVersion string `json:"resourceVersion"`
}

type statusLine struct {
	Type    string `json:"type"` // "error" (failed request) or "ERROR" (watch event)
	Code    int32  `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type markerLine struct {
	Type string `json:"type"` // "closed", "timeout" or "dumped"
}

// emit writes v as one JSON line. os.Stdout is unbuffered in Go, so a single
// Write per line means the tests reading the pipe see each line immediately.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs and decoded JSON get here
	}
	os.Stdout.Write(append(b, '\n'))
}

// emitObject prints a whole object as one compact JSON line.
func emitObject(obj *unstructured.Unstructured) error {
	emit(obj.Object)
	return nil
}

// reported means the outcome was already printed; only the exit code remains.
type reported int

func (r reported) Error() string { return fmt.Sprintf("exit %d", int(r)) }

// exitCode turns a command's result into the process exit code, printing API
// errors as a JSON line so the tests can assert on code and reason.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var r reported
	if errors.As(err, &r) {
		return int(r)
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		emit(statusLine{Type: "error", Code: s.Code, Reason: string(s.Reason), Message: s.Message})
		return exitAPIError
	}
	fmt.Fprintln(os.Stderr, "inclusterclient:", err)
	return exitFailure
}
