package store

// WALSlots is the writer's WriteWait tokens (for TestWriteWait).
func (w *Writer) WALSlots() chan struct{} { return w.walSlots }

// WALWaitMax is walWaitMax (for TestWriteWait).
const WALWaitMax = walWaitMax
