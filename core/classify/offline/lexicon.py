"""Word tables of the offline classifier: shorthand, contractions, number words, common English."""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    """The whitespace-separated words of TEXT: word lists read best as plain text."""
    return frozenset(text.split())


# Shorthand and spoken variants rewritten before matching; "" drops the word (pure filler).
SHORTHAND: dict[str, str] = {
    "pls": "",
    "plz": "",
    "please": "",
    "plse": "",
    "kindly": "",
    "um": "",
    "umm": "",
    "uh": "",
    "uhh": "",
    "er": "",
    "erm": "",
    "hmm": "",
    "thx": "thanks",
    "thnx": "thanks",
    "tnx": "thanks",
    "ty": "thanks",
    "tyvm": "thanks",
    "u": "you",
    "ya": "you",
    "ur": "your",
    "yr": "your",
    "r": "are",
    "yday": "yesterday",
    "yest": "yesterday",
    "ystrdy": "yesterday",
    "tdy": "today",
    "2day": "today",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tomoz": "tomorrow",
    "wk": "week",
    "wks": "weeks",
    "mo": "month",
    "mth": "month",
    "mnth": "month",
    "mos": "months",
    "mths": "months",
    "hr": "hour",
    "hrs": "hours",
    "min": "minute",
    "mins": "minutes",
    "msg": "message",
    "msgs": "messages",
    "convo": "conversation",
    "convos": "conversations",
    "conv": "conversation",
    "convs": "conversations",
    "pri": "priority",
    "prio": "priority",
    "priorty": "priority",
    "hipri": "high priority",
    "hi-pri": "high priority",
    "high-pri": "high priority",
    "lopri": "low priority",
    "lo-pri": "low priority",
    "low-pri": "low priority",
    "frt": "first response time",
    "kb": "knowledge base",
    "mgr": "manager",
    "mgmt": "management",
    "abt": "about",
    "w/": "with",
    "ppl": "people",
    "perf": "performance",
    "rpt": "report",
    "sched": "schedule",
    "txt": "text",
    "e-mail": "email",
    "emails": "emails",
    "whatsapp's": "whatsapp",
    "tg": "telegram",
    "info": "information",
    "asap": "asap",
    "approx": "approximately",
    "q&a": "qa",
    "q&as": "qa",
    "qas": "qa",
    "faqs": "faq",
    "apikey": "api key",
    "api-key": "api key",
    "wtd": "this week",
    "mtd": "this month",
    "xls": "xlsx",
    "spreadsheet": "xlsx",
    "excel": "xlsx",
    "thru": "through",
    "cuz": "because",
    "bc": "because",
    "b/c": "because",
    "esc": "escalation",
    "escalations": "escalations",
    "sla": "sla",
    "a.m": "am",
    "p.m": "pm",
    "a.m.": "am",
    "p.m.": "pm",
    "ok": "okay",
    "k": "okay",
    "kk": "okay",
    "okey": "okay",
    "yeah": "yes",
    "yep": "yes",
    "yup": "yes",
    "ya'll": "all",
    "nah": "no",
    "nope": "no",
    "webchat": "web chat",
    "helpscout": "help scout",
    "reassign": "reassign",
    "unassigned": "unassigned",
    "teammates": "team",
    "tix": "tickets",
    "tkt": "ticket",
    "tkts": "tickets",
    "asst": "assist",
    "assts": "assists",
}

CONTRACTIONS: dict[str, str] = {
    "what's": "what is",
    "whats": "what is",
    "it's": "it is",
    "that's": "that is",
    "thats": "that is",
    "who's": "who is",
    "whos": "who is",
    "how's": "how is",
    "hows": "how is",
    "where's": "where is",
    "there's": "there is",
    "here's": "here is",
    "let's": "let us",
    "i'm": "i am",
    "im": "i am",
    "i'd": "i would",
    "i've": "i have",
    "i'll": "i will",
    "we've": "we have",
    "we're": "we are",
    "we'll": "we will",
    "we'd": "we would",
    "they're": "they are",
    "you're": "you are",
    "youre": "you are",
    "you've": "you have",
    "you'll": "you will",
    "don't": "do not",
    "dont": "do not",
    "doesn't": "does not",
    "doesnt": "does not",
    "didn't": "did not",
    "didnt": "did not",
    "can't": "cannot",
    "cant": "cannot",
    "couldn't": "could not",
    "couldnt": "could not",
    "won't": "will not",
    "wont": "will not",
    "wouldn't": "would not",
    "isn't": "is not",
    "isnt": "is not",
    "aren't": "are not",
    "arent": "are not",
    "hasn't": "has not",
    "haven't": "have not",
    "wasn't": "was not",
    "weren't": "were not",
    "shouldn't": "should not",
    "o'clock": "oclock",
    "y'all": "all",
}

UNITS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}

# Everyday words never "corrected" towards the domain vocabulary; a typo fixer that turned
# "lose" into "close" or "those" into "close" would invent intents.
COMMON_WORDS: frozenset[str] = words(
    """
    a about above across after again against ago all almost along already also although always
    am among an and another any anyone anything anyway are around as ask asked asking at away
    back bad be because been before being below best better between big both bring brought but
    by call called came can cannot case cases come coming could customer customers day days did
    do does doing done down during each early either else end enough even ever every everyone
    everything few find first for found from full get gets getting give given go goes going gone
    good got great had half happen happened happy hard has have having he her here hers him his
    how however if in into is it its just keep kind know known last late later least left less
    let like little long look looking looks lot lots made main make makes making many may maybe
    me mean might mine more most much must my myself need needs never new next nice no none nor
    not nothing now number of off often oh old on once one only or other others our ours out
    over own part people per perhaps place put quite rather really right said same saw say says
    see seem seen she should show side since so some someone something sometimes soon still such
    sure take taken tell than thank thanks that the their them then there these they thing
    things think this those though through thus time times to today together too took toward try
    trying turn two under until up upon us use used using very via want wanted wants was way we
    well went were what when where whether which while who whole whom whose why will with within
    without word words work would yes yet you your yours able account accounts actually add
    added address agent ai answer answers app arrive arrived asap available bill billing bit
    body bot box business buy card cart change changed charge charged check checkout chat chats
    city client clients code company complete contact content cost country credit current date
    deal delivery detail details discount doc docs email error extra fast feature fee file fine
    fix fixed follow form free friday help hello hi hey hold home hour hours issue issues item
    items label line link list live lost love mail manager message messages minute minutes money
    monday month months morning name night note notes offer online open order orders page paid
    pass password pay payment phone plan please point policy price problem problems product
    products question questions quick reason refund refunds reply request return returns review
    reviews sale saturday sent service services ship shipped shipping shop size sorry spam start
    status stock store sunday support system team text thursday ticket tickets tonight tool
    track tracking tuesday update updated user users wait waiting website wednesday week weeks
    welcome wrong year years yesterday tomorrow maintenance outage apologize apologies patience
    processed issued receive received sending send shows showed shown lose loss lead load host
    post rest test node nose dose maria sam jo tom ann anna bob dana alex chris mark lee kim
    john jane ability absolutely accept access accident according act action active actual admit
    adult affect afraid age agency agree ahead aim air alive allow alone alright amazing amount
    animal anybody anyhow anymore apart apparently appear apply approach area argue arm army
    arrange art article aside asleep assume attack attempt attend attention author avoid aware
    awful baby background bag ball bank bar base basic basis bear beat beautiful became become
    bed began begin behind believe belong beside besides beyond bird birth black blame blind
    block blood blow blue board boat book born borrow boss bottom bought boy brain branch brand
    bread break breakfast bright brilliant broad broke broken brother brown budget build
    building built burn busy button cake calm camera campaign cancer candidate capital captain
    car care career careful carry cash cat catch cause cell center central century certain
    certainly chair chairman challenge chance character cheap chief child children choice choose
    church citizen civil claim class clean clear clearly climb clock closer clothes cloud club
    coach coast coffee cold collect college color comment commercial common community compare
    complain completely concern condition conference confirm congress consider consumer contain
    continue control cool copy corner correct council count couple course court cover create
    crime crisis cross crowd cry culture cup cut dad damage dance danger dark daughter dead dear
    death debate decade decide decision deep defense degree delay deliver demand deny department
    depend describe design desk despite destroy develop die difference different difficult
    dinner direction director discover discuss disease doctor dog door double doubt draw dream
    dress drink drive drop drug due dust duty earn earth ease east easy eat economy edge
    education effect effort eight election employee empty encourage enemy energy enjoy enter
    entire environment equal escape especially establish evening event evidence exactly example
    exist expect experience expert explain express eye face fact factor fail fair faith fall
    family famous far farm father fear federal feel feeling fellow female field fight figure
    fill film final finally financial finger fire firm fish fit five flat floor fly focus food
    foot force foreign forest forget forgot formal former forward four friend front fruit fuel
    fun function fund future game garden gas general generation girl glad glass goal god gold
    golf government grand grant green ground group grow growth guess gun guy hair hand handle
    hang hardly hat hate head health hear heart heat heavy height hell hide high hill himself
    history hit hole holiday honest hope horse hospital hot hotel house huge human hundred hurt
    husband idea identify ignore image imagine impact important improve include income increase
    indeed indicate individual industry inside instead institution interest interesting
    international interview investment involve island itself job join joke judge jump junior
    jury key kid kill kitchen knee knife lack lady land language large laugh law lawyer lay
    leader learn leave leg legal length lesson letter level lie life light likely limit listen
    lives local lock loud low lunch machine magazine maintain major male man manage market
    marriage material matter meal measure media medical meet meeting member memory mention
    method middle military milk million mind minor miss mission model modern moment mother
    mountain mouth move movie mr mrs ms murder music nation national natural nature near nearly
    necessary neck neighbor network news newspaper nine nobody normal north notice novel nurse
    object obviously occur odd officer official oil operation opinion opportunity option
    organization original outside owner pain paint paper parent park partner party past path
    patient pattern peace perform period person personal physical pick picture piece plant play
    player pleasure plenty pocket poem police political poor popular population position
    positive possible pound power practice prepare present president pressure pretty prevent
    prison private probably process produce professional professor program project promise
    proper property protect prove provide public pull purpose push quality quarter queen quiet
    race radio raise range rate reach read ready real reality realize recent recently recognize
    record red reduce reflect region relate relationship religious remain remember remove rent
    repeat represent require research resource respond rich ride ring rise risk river road rock
    role room round rule run safe salt save scene school science score sea season seat second
    secret section security seek sell senior sense series serious serve session seven several
    sex shake shall shape share sharp sheet shoe shoot short shot shoulder shout sick sign
    significant silence similar simple simply single sister sit site situation six skill skin
    sky sleep slightly slow small smart smile smoke snow social society soft soldier solid
    solution son song sort soul sound source south space speak special specific speech speed
    spend spirit sport spot spring staff stage stand standard star state station stay step stick
    stone stop story straight strange street strength stress strike strong structure student
    study stuff style subject success successful suddenly suffer suggest summer sun supply
    suppose surface surprise table talk task tax tea teach teacher technology television ten
    tend term terrible theory therefore thin third thought thousand threat three throw tie tiny
    tired title toe top total touch tough tour town trade traditional train travel treat tree
    trial trip trouble truck true trust truth twice type uncle understand unit unless usually
    value various victim view village visit voice vote wake walk wall war warm wash watch water
    wave weak wealth weapon wear weather weekend weight west whatever white wide wife win wind
    window wine wing winter wish woman women wonder wood worker world worry write writer yard
    yeah yellow young yourself youth aboard absent accurate acme adjust advance advice
    afterwards agreement alert allowed apology appointment approx arrival assure attach attached
    attachment awaiting backorder banner barcode batch boxes bundle cancel cancellation carrier
    checked courier coupon damaged defective delayed delivered dispatch dispatched duplicate
    eligible estimate exchange expected expedite expired faulty following further guarantee
    hopefully immediately inconvenience instructions invoice kindly missing notified ordered
    outstanding package parcel partial pickup pleased portal purchase receipt refunded
    replacement reschedule responded returned shipment shortly subscription unfortunately
    voucher warranty contacted contacting contacts reached reaching wrote writing emailed
    messaged calling answered replied replying struggling struggle stuck working worked handled
    handling helped helping looked checking talked talking chatted chatting complained
    complaining waited
    """
)
