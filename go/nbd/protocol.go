package nbd

// Wire values of the NBD protocol (all integers are big-endian).
const (
	magicInit      = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt       = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply  = 0x0003e889045565a9
	magicRequest   = 0x25609513
	magicSimpleRep = 0x67446698

	// Handshake flags (server) and client flags.
	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	// Options.
	optExportName = 1
	optAbort      = 2
	optInfo       = 6
	optGo         = 7

	// Option reply types.
	repAck        = 1
	repInfo       = 3
	repErrUnsup   = 1<<31 + 1
	repErrInvalid = 1<<31 + 3

	// Information types in NBD_REP_INFO.
	infoExport = 0

	// Transmission flags.
	flagHasFlags        = 1 << 0
	flagSendFlush       = 1 << 2
	flagSendFUA         = 1 << 3
	flagSendTrim        = 1 << 5
	flagSendWriteZeroes = 1 << 6

	// Commands and their flags.
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdWriteZeroes = 6
	cmdFlagFUA     = 1 << 0

	// Error values of simple replies.
	errIO    = 5
	errInval = 22
	errNoSpc = 28
)

// transmissionFlags is what the export advertises: a write cache the
// client must flush, FUA writes, and the two ways of zeroing.
const transmissionFlags = flagHasFlags | flagSendFlush | flagSendFUA | flagSendTrim | flagSendWriteZeroes

// maxPayload is the largest READ or WRITE served, the protocol's default
// when the server advertises no block size constraints.
const maxPayload = 32 << 20

// maxOption bounds an option's data: names are at most 4096 bytes, and
// no option this server knows carries more.
const maxOption = 64 << 10
