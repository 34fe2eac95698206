// The project's one door to ONNX Runtime: telemetry is switched off before the library loads
// (imports run in order). Import ONNX Runtime from here, never from 'onnxruntime-node'.

import '../no-telemetry';

export * from 'onnxruntime-node';
