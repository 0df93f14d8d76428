package localbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gqlambda/gqlambda/localbus/pattern"
)

// maxBody bounds a request's body: MaxRequestSize of entries, with room
// for JSON's escapes and field names.
const maxBody = 4 * MaxRequestSize

// ServeHTTP serves EventBridge's API (the AWS JSON 1.1 protocol: POST,
// X-Amz-Target: AWSEvents.<operation>) for PutEvents and TestEventPattern,
// so that aws-sdk-go-v2's eventbridge client, the AWS CLI or any SDK pointed
// at the bus's URL works. Requests are not authenticated. Errors are AWS
// JSON errors: {"__type": "ValidationException", "message": "..."} with a
// 400 status.
func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "EventBridge takes POST requests")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSEvents.")
	if !ok {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "X-Amz-Target must be AWSEvents.<operation>")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "ValidationException", "Total size of the entries in the request is over the limit.")
			return
		}
		writeError(w, http.StatusBadRequest, "SerializationException", "cannot read the request body")
		return
	}
	switch op {
	case "PutEvents":
		b.servePutEvents(w, r, body)
	case "TestEventPattern":
		serveTestEventPattern(w, body)
	default:
		writeError(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("the local bus does not serve %s (only PutEvents and TestEventPattern)", op))
	}
}

// wireEntry is PutEventsRequestEntry on the wire.
type wireEntry struct {
	Source       string          `json:"Source"`
	DetailType   string          `json:"DetailType"`
	Detail       string          `json:"Detail"`
	Resources    []string        `json:"Resources"`
	Time         json.RawMessage `json:"Time"`
	EventBusName string          `json:"EventBusName"`
	TraceHeader  string          `json:"TraceHeader"`
}

func (b *Bus) servePutEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Entries []wireEntry `json:"Entries"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "the request is not a PutEvents request: "+err.Error())
		return
	}
	entries := make([]Entry, len(in.Entries))
	for i, e := range in.Entries {
		t, err := parseTime(e.Time)
		if err != nil {
			writeError(w, http.StatusBadRequest, "SerializationException", fmt.Sprintf("Entries[%d].Time: %v", i, err))
			return
		}
		entries[i] = Entry{Source: e.Source, DetailType: e.DetailType, Detail: e.Detail, Resources: e.Resources, Time: t, EventBusName: e.EventBusName, TraceHeader: e.TraceHeader}
	}
	res, err := b.PutEvents(r.Context(), entries)
	switch {
	case errors.Is(err, ErrValidation):
		writeError(w, http.StatusBadRequest, "ValidationException", strings.TrimPrefix(err.Error(), ErrValidation.Error()+": "))
		return
	case errors.Is(err, ErrThrottled):
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "InternalException", "the bus is closed")
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "InternalException", err.Error())
		return
	}
	writeJSON(w, res)
}

// parseTime reads a timestamp as AWS JSON 1.1 writes it (seconds since the
// epoch, with a fraction) or as an RFC 3339 string.
func parseTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		return time.Parse(time.RFC3339Nano, s)
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil || math.IsNaN(secs) || math.Abs(secs) > 1e11 {
		return time.Time{}, fmt.Errorf("not a timestamp: %s", raw)
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC(), nil
}

// requiredEventFields are the fields TestEventPattern requires of its event.
var requiredEventFields = []string{"id", "account", "source", "time", "region", "resources", "detail-type"}

func serveTestEventPattern(w http.ResponseWriter, body []byte) {
	var in struct {
		EventPattern string `json:"EventPattern"`
		Event        string `json:"Event"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "the request is not a TestEventPattern request: "+err.Error())
		return
	}
	p, err := pattern.Compile(in.EventPattern)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidEventPatternException", "Event pattern is not valid. Reason: "+strings.TrimPrefix(err.Error(), pattern.ErrInvalidPattern.Error()+": "))
		return
	}
	var event map[string]any
	if err := json.Unmarshal([]byte(in.Event), &event); err != nil || event == nil {
		writeError(w, http.StatusBadRequest, "ValidationException", "Parameter Event is not valid.")
		return
	}
	for _, f := range requiredEventFields {
		if _, ok := event[f]; !ok {
			writeError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("Parameter Event is not valid. Reason: Provided Event must have mandatory field %s.", f))
			return
		}
	}
	match, err := p.MatchJSON([]byte(in.Event))
	if err != nil {
		writeError(w, http.StatusBadRequest, "ValidationException", "Parameter Event is not valid.")
		return
	}
	writeJSON(w, map[string]bool{"Result": match})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}
