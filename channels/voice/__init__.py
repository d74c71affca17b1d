"""Voice through Twilio and ElevenLabs (`NAME` "voice"): calls answered with TwiML.

A member calls, is greeted by name and says what they need (`<Gather input="speech">`); the
request becomes a Task on the `voice` channel, its answer is spoken (ElevenLabs audio played
from a signed `/media` link, or `<Say>`) and the call loops until they are done. Proposals are
read back and decided by a spoken yes or no; answers that do not suit speech go to the
member's text channel. Other callers reach the AI agent's greeting and the voicemail, which
becomes an assist. `/elevenlabs/webhook` takes post-call transcripts of ElevenLabs agents.
"""
