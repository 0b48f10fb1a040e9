package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/topic"
)

// parsePublish checks POST /v1/publish's query as the MQTT listeners check
// a PUBLISH, so that HTTP is no way around them: a topic name (UTF-8, no
// wildcards) within maxTopic bytes (0: MQTT's 65535), not under $SYS/ (403,
// as MQTT answers 0x87), and not a subscription's $replay/ or $share/ form;
// qos 0, 1 or 2 (default 1) and retain true or false (default false),
// spelled exactly; no other parameter, so that a misspelt one is not
// silently ignored. The status goes with the error.
func parsePublish(q url.Values, maxTopic int) (fsm.Message, int, error) {
	m := fsm.Message{QoS: 1}
	for k, v := range q {
		if k != "topic" && k != "qos" && k != "retain" {
			return m, http.StatusBadRequest, fmt.Errorf("unknown parameter %q (topic, qos, retain)", k)
		}
		if len(v) != 1 {
			return m, http.StatusBadRequest, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	m.Topic = q.Get("topic")
	if code, err := checkPublishTopic(m.Topic, maxTopic); err != nil {
		return m, code, err
	}
	var err error
	if v, ok := q["qos"]; ok {
		if m.QoS, err = parseQoS(v[0]); err != nil {
			return m, http.StatusBadRequest, err
		}
	}
	if v, ok := q["retain"]; ok {
		if m.Retain, err = parseRetain(v[0]); err != nil {
			return m, http.StatusBadRequest, err
		}
	}
	return m, 0, nil
}

func checkPublishTopic(t string, maxTopic int) (int, error) {
	if err := topic.ValidateName(t); err != nil {
		return http.StatusBadRequest, fmt.Errorf("topic: %w", err)
	}
	switch {
	case maxTopic > 0 && len(t) > maxTopic:
		return http.StatusBadRequest, fmt.Errorf("topic is %d bytes, longer than this broker's limit of %d", len(t), maxTopic)
	case strings.HasPrefix(t, "$SYS/"):
		return http.StatusForbidden, errors.New("clients cannot publish to $SYS/")
	case strings.HasPrefix(t, "$replay/"), strings.HasPrefix(t, "$share/"):
		return http.StatusBadRequest, fmt.Errorf("topic %q: $replay/ and $share/ are subscription forms, not topic names", t)
	}
	return 0, nil
}

func parseQoS(v string) (byte, error) {
	switch v {
	case "0", "1", "2":
		return v[0] - '0', nil
	}
	return 0, fmt.Errorf("qos %q: want 0, 1 or 2", v)
}

func parseRetain(v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("retain %q: want true or false", v)
}
