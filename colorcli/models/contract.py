"""The model contract shared by the runtime (inference) and the exporter (training side).

An ONNX generator takes one input and gives one output:

- input  ``L``  float32 ``[N, 1, H, W]`` holding ``L / 50 - 1`` (L of CIE Lab, 0..100, so -1..1)
- output ``ab`` float32 ``[N, 2, H, W]`` in [-1, 1]; multiplied by ``AB_SCALE`` (110) it gives a, b

H and W are multiples of the model's size unit. The model describes itself in ``metadata_props``;
every key below is a string, numbers written in decimal, structured values as JSON.
"""

INPUT_NAME = "L"
OUTPUT_NAME = "ab"

L_SCALE = 50.0  # model input = L / L_SCALE - L_OFFSET
L_OFFSET = 1.0
AB_SCALE = 110.0  # a, b = model output * AB_SCALE

INPUT_NORM = "L/50-1"
OUTPUT_NORM = "ab/110"

# metadata_props keys. Required ones are read by the runtime; the rest are provenance for people.
META_NATIVE_SIZE = "colorcli.native_size"  # required: side of the square the model was trained at
META_SIZE_UNIT = "colorcli.size_unit"  # required: H and W must be multiples of this
META_INFERENCE_SIZE = "colorcli.inference_size"  # optional: the input size colorize uses by default
META_INPUT_NORM = "colorcli.input_norm"  # required: must equal INPUT_NORM
META_OUTPUT_NORM = "colorcli.output_norm"  # required: must equal OUTPUT_NORM
META_ARCHITECTURE = "colorcli.architecture"  # e.g. "unet", "effnet-lite0"
META_MODEL_CONFIG = "colorcli.model_config"  # JSON of the generator's config (width, depth, ...)
META_TRAINING = "colorcli.training"  # JSON: dataset, epochs, command, wall time, hardware
META_METRICS = "colorcli.metrics"  # JSON: validation metrics and their gray baseline
META_VERSION = "colorcli.version"  # colorcli version that exported the model
META_CREATED = "colorcli.created"  # ISO 8601 UTC date of export
META_PRECISION = "colorcli.precision"  # "fp32" or "fp16" (I/O stays float32 either way)
META_CHROMA_GAIN = "colorcli.chroma_gain"  # optional: factor on the trained a, b, already inside the graph
META_FLIP_AVERAGE = "colorcli.flip_average"  # optional: "true" if the graph averages L and its mirror image
META_SHIFT_AVERAGE = "colorcli.shift_average"  # optional: "true" if it also averages 1-pixel shifts of L
META_HEAD = "colorcli.head"  # optional: "bins" for a distributional head (absent: the a, b regressed directly)
META_TEMPERATURE = "colorcli.temperature"  # bins head: the annealed mean's temperature, already inside the graph

REQUIRED_META = (META_NATIVE_SIZE, META_SIZE_UNIT, META_INPUT_NORM, META_OUTPUT_NORM)


def inference_options(metadata: dict[str, str]) -> dict:
    """The fixed inference choices an exported graph holds (absent keys: none): chroma gain, flip and
    shift averages."""
    return {"chroma_gain": float(metadata.get(META_CHROMA_GAIN, 1)),
            "flip_average": metadata.get(META_FLIP_AVERAGE) == "true",
            "shift_average": metadata.get(META_SHIFT_AVERAGE) == "true"}
