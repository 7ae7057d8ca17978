// protobuf-go is client-go's own codec as a differential oracle for src/kube/protobuf: it reads
// JSON lines on stdin and answers each with one JSON line on stdout.
//
//	{"op":"decode","pb":"<base64 k8s\0 bytes>"} → {"json":<the typed object as encoding/json writes it>}
//	{"op":"encode","json":<object>}             → {"pb":"<base64 of client-go's protobuf encoding>"}
//
// "decode" is what a client-go program gets from our protobuf answer; "encode" is what a typed
// clientset (which decodes into the Go struct and marshals with gogo) would send for that object.
// Errors come back as {"error":"..."}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

type request struct {
	Op   string          `json:"op"`
	PB   []byte          `json:"pb"`
	JSON json.RawMessage `json:"json"`
}

type answer struct {
	JSON  json.RawMessage `json:"json,omitempty"`
	PB    []byte          `json:"pb,omitempty"`
	Error string          `json:"error,omitempty"`
}

func main() {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	// meta.k8s.io/v1 PartialObjectMetadata(List), as metadata clients decode them
	metav1.AddMetaToScheme(s)
	codecs := serializer.NewCodecFactory(s)
	deserializer := codecs.UniversalDeserializer()
	pb := protobuf.NewSerializer(s, s)

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var ans answer
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			ans.Error = err.Error()
		} else {
			ans = handle(req, deserializer, pb)
		}
		if err := out.Encode(ans); err != nil {
			panic(err)
		}
	}
}

func handle(req request, deserializer runtime.Decoder, pb *protobuf.Serializer) answer {
	switch req.Op {
	case "decode":
		obj, _, err := deserializer.Decode(req.PB, nil, nil)
		if err != nil {
			return answer{Error: err.Error()}
		}
		text, err := json.Marshal(obj)
		if err != nil {
			return answer{Error: err.Error()}
		}
		return answer{JSON: text}
	case "encode":
		obj, _, err := deserializer.Decode(req.JSON, nil, nil)
		if err != nil {
			return answer{Error: err.Error()}
		}
		var buf bytes.Buffer
		if err := pb.Encode(obj, &buf); err != nil {
			return answer{Error: err.Error()}
		}
		return answer{PB: buf.Bytes()}
	}
	return answer{Error: fmt.Sprintf("unknown op %q", req.Op)}
}
