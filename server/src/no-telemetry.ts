// ONNX Runtime 1.29 on Linux sends Microsoft telemetry (a device id, model and graph names,
// timings; traced as DNS lookups of mobile.events.data.microsoft.com and an event queue under
// ~/.cache/Microsoft) unless ORT_DISABLE_TELEMETRY=1 is in the environment when the library
// loads. Nothing may leave the user's machine, so every entry point imports this module first,
// and model/ort.ts imports it ahead of the library. In a worker thread process.env is a copy
// that the library never reads: the main thread's assignment is the one that counts there.

process.env.ORT_DISABLE_TELEMETRY = '1';
