"""Telephony lines connected in the console (Twilio, Dialpad, RingCentral, Aircall, Quo,
Vonage): one webhook route, `POST /telephony/{provider}/{integration_id}`, that verifies each
provider's signature with the line's own credentials and turns its voicemails into assists."""
