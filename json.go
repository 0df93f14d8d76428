package gqlambda

import (
	"encoding/json"
	"errors"
	"fmt"
)

// This file holds the JSON helpers shared by the flows: what hooks return,
// publish payloads, stored variables and GraphQL errors.

// encodeValue encodes a hook's result or a payload: nil stays nil, a
// json.RawMessage must be valid JSON, anything else goes through
// encoding/json.
func encodeValue(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(v) == 0 {
			return nil, nil
		}
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// encodePayload encodes a Publish or Complete payload as JSON: nothing for a
// nil payload (every subscription matches), "null" for a value that encodes
// to nothing (filters see nil).
func encodePayload(topic string, payload any) (json.RawMessage, error) {
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	if payload == nil {
		return nil, nil
	}
	raw, err := encodeValue(payload)
	if err != nil {
		return nil, fmt.Errorf("gqlambda: encode payload for topic %q: %w", topic, err)
	}
	if raw == nil {
		raw = json.RawMessage("null")
	}
	return raw, nil
}

// decodeVariables decodes stored variables.
func decodeVariables(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var vars map[string]any
	if err := json.Unmarshal(raw, &vars); err != nil {
		return nil, fmt.Errorf("decode stored variables: %w", err)
	}
	return vars, nil
}

// encodeErrors encodes each GraphQL error as a JSON object, the form the
// protocol packages take.
func encodeErrors(errs Errors) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(errs))
	for _, e := range errs {
		b, err := json.Marshal(e)
		if err != nil {
			// Extensions held something JSON cannot carry; keep the message.
			b, _ = json.Marshal(&Error{Message: e.Message})
		}
		out = append(out, b)
	}
	return out
}

// resultOfErrorList is the execution result {"errors": errs}.
func resultOfErrorList(errs []json.RawMessage) []byte {
	b := append([]byte(nil), `{"errors":[`...)
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...)
}

// errorJSON encodes a single GraphQL error with message msg and an
// extensions code.
func errorJSON(msg, code string) []json.RawMessage {
	return encodeErrors(errorList(msg, code))
}

// errorList is a single GraphQL error with message msg and an extensions
// code.
func errorList(msg, code string) Errors {
	return Errors{{Message: msg, Extensions: map[string]any{"code": code}}}
}
