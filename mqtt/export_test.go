package mqtt

// SetShareEncodings turns the shared PUBLISH encodings on or off (for
// benchmarks comparing both in one run) and returns the previous setting.
func SetShareEncodings(on bool) bool { return shareEncodings.Swap(on) }
