package provider

import (
	"encoding/json"
	"slices"
)

// refFields are the members in which the providers put their references
// (docs/providers.md): Monnify and Moniepoint under eventData or data,
// OPay under payload or data, Vesicash under data, a core app at the top.
var refFields = []string{
	"transactionReference", "paymentReference", "merchantReference", "transactionRef", "paymentRef",
	"transactionId", "orderNo", "reference", "payment_id", "transaction_id",
}

// maxRefs and maxRefLen bound what a held notification is indexed by.
const (
	maxRefs   = 6
	maxRefLen = 128
)

// heldRefs reads the references a person may look a held notification up
// by: the known reference members at the top of the body and in its
// eventData, data or payload object. A body they cannot be read from gives
// none.
func heldRefs(body []byte) []string {
	top := map[string]json.RawMessage{}
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var out []string
	for _, m := range []map[string]json.RawMessage{top, inner(top, "eventData"), inner(top, "data"), inner(top, "payload")} {
		for _, f := range refFields {
			ref := text(m, f)
			if ref == "" || len(ref) > maxRefLen || len(out) == maxRefs || slices.Contains(out, ref) {
				continue
			}
			out = append(out, ref)
		}
	}
	return out
}

func inner(m map[string]json.RawMessage, key string) map[string]json.RawMessage {
	o, err := sub(m, key)
	if err != nil {
		return nil
	}
	return o
}
