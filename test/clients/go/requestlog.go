package main

import (
	"net/http"

	"k8s.io/client-go/transport"
)

// requestLine is the shape of one HTTP request the client sent: what an edge proxy in front of
// kube-apiserver has to understand (path, query, the encodings asked for and sent). Bodies and
// headers carrying credentials are never printed.
type requestLine struct {
	Type                string `json:"type"` // "request"
	Method              string `json:"method"`
	Path                string `json:"path"`
	Query               string `json:"query"`
	Accept              string `json:"accept"`
	ContentType         string `json:"contentType"`
	Status              int    `json:"status"`
	ResponseContentType string `json:"responseContentType"`
	Error               string `json:"error,omitempty"`
}

// loggingTransport prints a requestLine once the response headers (or an error) are back, so a
// watch is printed when the server accepted it, not when it ends.
type loggingTransport struct{ next http.RoundTripper }

func (l loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	line := requestLine{
		Type: "request", Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
		Accept: req.Header.Get("Accept"), ContentType: req.Header.Get("Content-Type"),
	}
	if err != nil {
		line.Error = err.Error()
	} else {
		line.Status, line.ResponseContentType = resp.StatusCode, resp.Header.Get("Content-Type")
	}
	emit(line)
	return resp, err
}

// withRequestLog is a rest.Config.WrapTransport: client-go puts it innermost, below its auth and
// user-agent round trippers, so it sees the headers exactly as they leave the process.
var withRequestLog transport.WrapperFunc = func(rt http.RoundTripper) http.RoundTripper {
	return loggingTransport{next: rt}
}
