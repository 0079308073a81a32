"""Training and release: train, pack, compare, ship, export to ONNX, fit the gate, build the OOD set, write the
model card. Imports inference (:mod:`kneeai.grading`); inference never imports this."""
