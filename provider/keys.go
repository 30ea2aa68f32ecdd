package provider

import "time"

// Keys is the part of a body an adapter reads: an object's documented
// keys by their exact names, each with the Keys of its own value (nil for
// a plain value). Keys given for an array apply to each of its elements.
// The intake holds every body to it before the adapter reads it: a key
// that differs from a documented one only in case ("Amount", "TenantId")
// is refused, since a reader that ignores case (Fluxvend's, or an app's)
// could take it instead of the one that was checked; and a reference is
// at most MaxRef bytes.
type Keys struct {
	Fields map[string]*Keys
	// Ref marks a value that is a reference: transactionRef, paymentRef
	// or the provider's own.
	Ref bool
}

// Documented is what an adapter reads from a request.
type Documented struct {
	Body *Keys
	// HeaderRefs are headers whose values serve as references.
	HeaderRefs []string
}

// MaxRef is the longest reference taken, in bytes: a transactionRef,
// paymentRef or a provider's own reference.
const MaxRef = 256

// reference is a documented value that is a reference.
var reference = &Keys{Ref: true}

func obj(fields map[string]*Keys) *Keys { return &Keys{Fields: fields} }

// coreKeys are the documented keys of the Fluxvend core payload.
var coreKeys = obj(map[string]*Keys{
	"tenantId": nil, "transactionRef": reference, "paymentRef": reference, "paymentMethod": nil, "amount": nil,
	"customer":        obj(map[string]*Keys{"id": nil, "name": nil, "email": nil, "phone": nil}),
	"transactionDate": nil, "accountNumber": nil, "bankCode": nil, "bankName": nil, "accountName": nil,
})

// vesicashData is what the Vesicash adapter reads of an event's data,
// which comes alone or under "data".
var vesicashData = map[string]*Keys{
	"status": nil, "payment_status": nil, "amount": nil,
	"disbursement_id": reference, "payment_id": reference, "transaction_id": reference, "reference": reference,
}

// documented lists, per provider, what its adapter reads. Free-form parts
// a merchant fills (Monnify's metaData, Moniepoint's customFields) are left
// out: their keys are the merchant's own.
var documented = map[string]*Documented{
	"core": {Body: coreKeys},
	"monnify": {Body: obj(map[string]*Keys{
		"eventType": nil,
		"eventData": obj(map[string]*Keys{
			"transactionReference": reference, "paymentReference": reference, "amountPaid": nil, "paymentMethod": nil, "paidOn": nil,
			"product":                  obj(map[string]*Keys{"type": nil, "reference": reference}),
			"customer":                 obj(map[string]*Keys{"name": nil, "email": nil}),
			"paymentSourceInformation": obj(map[string]*Keys{"accountNumber": nil, "bankCode": nil, "accountName": nil}),
			"reference":                reference, "refundReference": reference, "settlementReference": reference, "mandateCode": reference, "transactionTime": nil,
		}),
	})},
	"moniepoint-pos": {Body: obj(map[string]*Keys{
		"eventId": reference,
		"data": obj(map[string]*Keys{
			"transactionStatus": nil, "transactionType": nil, "responseCode": nil, "responseMessage": nil,
			"transactionReference": reference, "merchantReference": reference, "amount": nil, "transactionTime": nil, "terminalSerial": nil,
		}),
	}), HeaderRefs: []string{"moniepoint-webhook-id"}},
	"opay": {Body: obj(map[string]*Keys{
		"sha512": nil,
		"payload": obj(map[string]*Keys{
			"amount": nil, "currency": nil, "reference": reference, "refunded": nil, "status": nil, "timestamp": nil,
			"token": nil, "transactionId": reference, "instrumentType": nil, "displayedFailure": nil,
		}),
	})},
	"opay-pos": {Body: obj(map[string]*Keys{
		"paramContent": nil,
		"data": obj(map[string]*Keys{
			"orderNo": reference, "payNo": reference, "outOrderNo": reference, "status": nil, "refunded": nil, "amount": nil,
			"completedTime": nil, "transactionTime": nil, "payMethod": nil, "senderName": nil, "senderAccount": nil,
			"senderBank": nil, "errorMsg": nil,
		}),
	}), HeaderRefs: []string{"X-Opay-Tranid"}},
	"vesicash": {Body: obj(withEvent(vesicashData))},
}

func withEvent(data map[string]*Keys) map[string]*Keys {
	top := map[string]*Keys{"event": nil, "data": obj(data)}
	for k, v := range data {
		top[k] = v
	}
	return top
}

// DocumentedKeys returns what the named provider's adapter reads, or nil
// for a provider it does not know.
func DocumentedKeys(provider string) *Documented { return documented[provider] }

// Stamped is a provider whose signature covers the time the notification
// was sent (Moniepoint's moniepoint-webhook-timestamp). A notification
// sent longer ago than the dedup window can be a replay of one the gateway
// has since forgotten, and the intake refuses it.
type Stamped interface {
	// SignedAt returns the signed send time of a verified request, when it
	// has one.
	SignedAt(req *Request) (time.Time, bool)
}

// SignedAt implements Stamped for a wrapped provider that has it.
func (h *holding) SignedAt(req *Request) (time.Time, bool) {
	if s, ok := h.Provider.(Stamped); ok {
		return s.SignedAt(req)
	}
	return time.Time{}, false
}
