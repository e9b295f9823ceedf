package reapi

// MaxWideDecoders is maxWideDecoders, for tests.
const MaxWideDecoders = maxWideDecoders

// WideDecodersInUse reports how many wide-window zstd decoders are taken.
func WideDecodersInUse() int { return len(zstdCodecs.wide) }
