//! Stacks of layers: shapes, parameter and MAC counts, receptive field and jump.
//!
//! For layers l = 1..L with effective kernel K_l = d_l(k_l - 1) + 1, stride s_l and begin
//! padding p_l, in input coordinates (per spatial dimension):
//!
//! ```text
//! jump_l  = jump_{l-1} * s_l                              (distance between adjacent outputs)
//! size_l  = size_{l-1} + (K_l - 1) * jump_{l-1}           (receptive field of one output)
//! start_l = start_{l-1} - p_l * jump_{l-1}                (first input index seen by output 0)
//! ```
//!
//! with jump_0 = 1, size_0 = 1, start_0 = 0.

use super::parse::{parse_bool, parse_list, parse_padding, parse_per_dim, ParseError};
use super::{
    checked_product, effective_kernel, pool_output_size, ConvGeometry, ConvShape, GeometryError,
    Padding, PoolGeometry,
};
use std::collections::BTreeMap;

/// Receptive field of one output element in one spatial dimension, in input coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceptiveField {
    /// Number of input positions that output element 0 depends on (padding included).
    pub size: u64,
    /// Distance in the input between adjacent outputs.
    pub jump: u64,
    /// First input index of output element 0's field (negative: inside the padding).
    pub start: i64,
}

/// One step of the receptive-field recursion, per spatial dimension: (effective kernel, stride,
/// begin padding).
pub fn receptive_fields(layers: &[(usize, usize, usize)]) -> ReceptiveField {
    layers.iter().fold(
        ReceptiveField {
            size: 1,
            jump: 1,
            start: 0,
        },
        |rf, &(span, stride, pad)| ReceptiveField {
            size: rf.size + (span as u64 - 1) * rf.jump,
            jump: rf.jump * stride as u64,
            start: rf.start - pad as i64 * rf.jump as i64,
        },
    )
}

/// What a layer of a stack does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    /// Convolution (correlation) layer.
    Conv {
        /// C_out.
        out_channels: usize,
        /// Groups.
        groups: usize,
        /// Whether the layer has a bias.
        bias: bool,
    },
    /// Max pooling.
    MaxPool {
        /// PyTorch's ceil_mode.
        ceil_mode: bool,
    },
    /// Average pooling.
    AvgPool {
        /// PyTorch's ceil_mode.
        ceil_mode: bool,
    },
}

/// One layer of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The operation.
    pub kind: LayerKind,
    /// Kernel size per spatial dimension.
    pub kernel: Vec<usize>,
    /// Stride per spatial dimension.
    pub stride: Vec<usize>,
    /// Dilation per spatial dimension.
    pub dilation: Vec<usize>,
    /// Padding rule.
    pub padding: Padding,
}

/// Per-layer result of [`analyse_stack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerReport {
    /// "conv", "max_pool" or "avg_pool".
    pub name: &'static str,
    /// Output shape (N, C, spatial...).
    pub output_shape: Vec<usize>,
    /// Parameters of this layer.
    pub parameters: u64,
    /// Multiply-accumulates (convolutions) of this layer; 0 for pooling.
    pub macs: u64,
    /// Receptive field of one output of this layer, per spatial dimension, in the stack's input.
    pub receptive_field: Vec<ReceptiveField>,
}

/// A stack description that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackError {
    /// A line or entry does not parse.
    Syntax {
        /// Line number or layer index.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A layer's geometry is impossible.
    Geometry {
        /// 1-based layer index.
        layer: usize,
        /// Layer kind.
        name: &'static str,
        /// The geometry error.
        source: GeometryError,
    },
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StackError::Syntax { location, message } => {
                write!(f, "layer stack, {location}: {message}")
            }
            StackError::Geometry {
                layer,
                name,
                source,
            } => {
                write!(f, "layer stack, layer {layer} ({name}): {source}")
            }
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::Geometry { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A stack: an input shape (N, C, spatial...) and its layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Input shape (N, C, spatial...).
    pub input: Vec<usize>,
    /// The layers in order.
    pub layers: Vec<Layer>,
}

/// Propagates the shape through the stack and reports each layer.
pub fn analyse_stack(stack: &Stack) -> Result<Vec<LayerReport>, StackError> {
    let mut shape = stack.input.clone();
    let mut rf_steps: Vec<Vec<(usize, usize, usize)>> =
        vec![Vec::new(); shape.len().saturating_sub(2)];
    let mut reports = Vec::new();
    for (index, layer) in stack.layers.iter().enumerate() {
        let name = match layer.kind {
            LayerKind::Conv { .. } => "conv",
            LayerKind::MaxPool { .. } => "max_pool",
            LayerKind::AvgPool { .. } => "avg_pool",
        };
        let wrap = |source| StackError::Geometry {
            layer: index + 1,
            name,
            source,
        };
        let rank = shape.len() - 2;
        let geometry = ConvGeometry {
            stride: layer.stride.clone(),
            dilation: layer.dilation.clone(),
            padding: layer.padding.clone(),
            padding_mode: Default::default(),
            groups: 1,
        };
        let (output_shape, parameters, macs, pads) = match &layer.kind {
            LayerKind::Conv {
                out_channels,
                groups,
                bias,
            } => {
                let groups = *groups;
                let mut weight = vec![*out_channels, shape[1] / groups.max(1)];
                weight.extend(&layer.kernel);
                let conv =
                    ConvShape::new(&shape, &weight, None, &geometry.clone().with_groups(groups))
                        .map_err(wrap)?;
                let pads = conv.dims.iter().map(|d| d.pad_begin).collect::<Vec<_>>();
                (
                    conv.output_shape().map_err(wrap)?,
                    conv.parameter_count(*bias).map_err(wrap)?,
                    conv.macs().map_err(wrap)?,
                    pads,
                )
            }
            LayerKind::MaxPool { ceil_mode } | LayerKind::AvgPool { ceil_mode } => {
                let dims = geometry.resolve(&shape[2..], &layer.kernel).map_err(wrap)?;
                let mut out = shape[..2].to_vec();
                for (dim, g) in dims.iter().enumerate() {
                    let pool = PoolGeometry {
                        kernel: g.kernel,
                        stride: g.stride,
                        pad_begin: g.pad_begin,
                        pad_end: g.pad_end,
                        dilation: g.dilation,
                        ceil_mode: *ceil_mode,
                    };
                    out.push(pool_output_size(dim, g.input, &pool).map_err(wrap)?);
                }
                checked_product(&out, "output element count").map_err(wrap)?;
                (out, 0, 0, dims.iter().map(|d| d.pad_begin).collect())
            }
        };
        for dim in 0..rank {
            let span = effective_kernel(layer.kernel[dim], layer.dilation[dim]).map_err(wrap)?;
            rf_steps[dim].push((span, layer.stride[dim], pads[dim]));
        }
        reports.push(LayerReport {
            name,
            output_shape: output_shape.clone(),
            parameters,
            macs,
            receptive_field: rf_steps
                .iter()
                .map(|steps| receptive_fields(steps))
                .collect(),
        });
        shape = output_shape;
    }
    Ok(reports)
}

fn syntax(location: impl Into<String>, message: impl Into<String>) -> StackError {
    StackError::Syntax {
        location: location.into(),
        message: message.into(),
    }
}

/// Builds a layer from its kind name and `key=value` options (values as on the command line).
fn layer_from_options(
    location: &str,
    kind: &str,
    options: &BTreeMap<String, String>,
    rank: usize,
) -> Result<Layer, StackError> {
    let allowed: &[&str] = match kind {
        "conv" => &[
            "out_channels",
            "kernel",
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
        ],
        "max_pool" => &["kernel", "stride", "padding", "dilation", "ceil_mode"],
        "avg_pool" => &["kernel", "stride", "padding", "ceil_mode"],
        other => {
            return Err(syntax(
                location,
                format!("unknown layer kind '{other}': expected conv, max_pool or avg_pool"),
            ))
        }
    };
    if let Some(key) = options.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(syntax(
            location,
            format!(
                "unknown option '{key}' for {kind}: expected one of {}",
                allowed.join(", ")
            ),
        ));
    }
    let p = |e: ParseError| syntax(location, e.to_string());
    let get = |key: &str| options.get(key).map(String::as_str);
    let kernel = parse_per_dim(
        "kernel",
        get("kernel").ok_or_else(|| syntax(location, format!("{kind} needs kernel=")))?,
        rank,
    )
    .map_err(p)?;
    // PyTorch pools default the stride to the kernel size; convolutions to 1.
    let stride = match get("stride") {
        Some(v) => parse_per_dim("stride", v, rank).map_err(p)?,
        None if kind == "conv" => vec![1; rank],
        None => kernel.clone(),
    };
    let dilation = get("dilation")
        .map(|v| parse_per_dim("dilation", v, rank))
        .transpose()
        .map_err(p)?
        .unwrap_or(vec![1; rank]);
    let padding = get("padding")
        .map(|v| parse_padding("padding", v, rank))
        .transpose()
        .map_err(p)?
        .unwrap_or(Padding::uniform(0, rank));
    let flag = |key: &str, default: bool| {
        get(key)
            .map(|v| parse_bool(key, v))
            .transpose()
            .map_err(p)
            .map(|v| v.unwrap_or(default))
    };
    let kind = match kind {
        "conv" => {
            let out =
                get("out_channels").ok_or_else(|| syntax(location, "conv needs out_channels="))?;
            let out_channels = single(location, "out_channels", out)?;
            let groups = get("groups")
                .map(|v| single(location, "groups", v))
                .transpose()?
                .unwrap_or(1);
            LayerKind::Conv {
                out_channels,
                groups,
                bias: flag("bias", true)?,
            }
        }
        "max_pool" => LayerKind::MaxPool {
            ceil_mode: flag("ceil_mode", false)?,
        },
        _ => LayerKind::AvgPool {
            ceil_mode: flag("ceil_mode", false)?,
        },
    };
    Ok(Layer {
        kind,
        kernel,
        stride,
        dilation,
        padding,
    })
}

fn single(location: &str, key: &str, value: &str) -> Result<usize, StackError> {
    value.trim().parse().map_err(|_| {
        syntax(
            location,
            format!("{key} must be a non-negative integer, got '{value}'"),
        )
    })
}

fn input_shape(location: &str, value: &str) -> Result<Vec<usize>, StackError> {
    let shape = parse_list("input", value).map_err(|e| syntax(location, e.to_string()))?;
    if shape.len() < 3 {
        return Err(syntax(location, format!("input shape must be (N, C, spatial...) with at least one spatial dimension, got {value}")));
    }
    Ok(shape)
}

/// Parses the text form of a stack: `#` comments, an `input N,C,H,W` line, then one layer a line
/// as `KIND key=value ...` with PyTorch's argument names, e.g.
///
/// ```text
/// input 1,3,224,224
/// conv out_channels=64 kernel=7 stride=2 padding=3 bias=false
/// max_pool kernel=3 stride=2 padding=1
/// ```
pub fn parse_stack_text(text: &str) -> Result<Stack, StackError> {
    let mut input: Option<Vec<usize>> = None;
    let mut layers = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let location = format!("line {}", number + 1);
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or_default();
        if kind == "input" {
            if input.is_some() {
                return Err(syntax(&location, "a second input line"));
            }
            let value = words.collect::<Vec<_>>().join("");
            input = Some(input_shape(&location, &value)?);
            continue;
        }
        let rank = match &input {
            Some(shape) => shape.len() - 2,
            None => {
                return Err(syntax(
                    &location,
                    "the input line (input N,C,spatial...) must come before the layers",
                ))
            }
        };
        let mut options = BTreeMap::new();
        for word in words {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| syntax(&location, format!("expected key=value, got '{word}'")))?;
            if options.insert(key.to_string(), value.to_string()).is_some() {
                return Err(syntax(&location, format!("option '{key}' given twice")));
            }
        }
        layers.push(layer_from_options(&location, kind, &options, rank)?);
    }
    let input =
        input.ok_or_else(|| syntax("end of file", "no input line (input N,C,spatial...)"))?;
    Ok(Stack { input, layers })
}

/// Parses the JSON form of a stack:
/// `{"input": [1,3,224,224], "layers": [{"op": "conv", "out_channels": 64, "kernel": 7, ...}]}`.
/// Values are numbers, booleans, lists of numbers or strings such as `"same"`.
pub fn parse_stack_json(text: &str) -> Result<Stack, StackError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| syntax("JSON", e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| syntax("JSON", "expected an object with \"input\" and \"layers\""))?;
    if let Some(key) = object.keys().find(|k| *k != "input" && *k != "layers") {
        return Err(syntax(
            "JSON",
            format!("unknown key '{key}': expected \"input\" and \"layers\""),
        ));
    }
    let input = object
        .get("input")
        .ok_or_else(|| syntax("JSON", "missing \"input\""))?;
    let input = input_shape(
        "\"input\"",
        &json_to_text(input).ok_or_else(|| syntax("\"input\"", "expected a list of integers"))?,
    )?;
    let rank = input.len() - 2;
    let entries = object
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or_else(|| syntax("JSON", "missing \"layers\" list"))?;
    let layers = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let location = format!("layer {}", i + 1);
            let fields = entry
                .as_object()
                .ok_or_else(|| syntax(&location, "expected an object"))?;
            let kind = fields
                .get("op")
                .and_then(|v| v.as_str())
                .ok_or_else(|| syntax(&location, "missing \"op\" (conv, max_pool or avg_pool)"))?;
            let mut options = BTreeMap::new();
            for (key, value) in fields.iter().filter(|(k, _)| *k != "op") {
                let text = json_to_text(value)
                    .ok_or_else(|| syntax(&location, format!("unusable value for '{key}'")))?;
                options.insert(key.clone(), text);
            }
            layer_from_options(&location, kind, &options, rank)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Stack { input, layers })
}

fn json_to_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Number(n) => n.as_u64().map(|v| v.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_u64().map(|v| v.to_string()))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESNET_STEM: &str = "\
# ResNet-50 stem
input 1,3,224,224
conv out_channels=64 kernel=7 stride=2 padding=3 bias=false
max_pool kernel=3 stride=2 padding=1
conv out_channels=64 kernel=3 padding=1 bias=false
";

    #[test]
    fn resnet_stem_by_hand() {
        let reports = analyse_stack(&parse_stack_text(RESNET_STEM).unwrap()).unwrap();
        assert_eq!(reports[0].output_shape, vec![1, 64, 112, 112]);
        assert_eq!(reports[0].parameters, 64 * 3 * 49);
        assert_eq!(reports[0].macs, 64 * 112 * 112 * 3 * 49);
        assert_eq!(reports[1].output_shape, vec![1, 64, 56, 56]);
        assert_eq!(reports[2].output_shape, vec![1, 64, 56, 56]);
        // Receptive fields by hand: 7; 7 + 2*2 = 11 (jump 4); 11 + 2*4 = 19.
        let rf: Vec<_> = reports.iter().map(|r| r.receptive_field[0]).collect();
        assert_eq!(
            rf[0],
            ReceptiveField {
                size: 7,
                jump: 2,
                start: -3
            }
        );
        assert_eq!(
            rf[1],
            ReceptiveField {
                size: 11,
                jump: 4,
                start: -5
            }
        );
        assert_eq!(
            rf[2],
            ReceptiveField {
                size: 19,
                jump: 4,
                start: -9
            }
        );
    }

    #[test]
    fn json_and_text_forms_agree() {
        let json = r#"{"input": [1,3,224,224], "layers": [
            {"op": "conv", "out_channels": 64, "kernel": 7, "stride": 2, "padding": 3, "bias": false},
            {"op": "max_pool", "kernel": 3, "stride": 2, "padding": 1},
            {"op": "conv", "out_channels": 64, "kernel": [3, 3], "padding": "same", "bias": false}]}"#;
        let a = analyse_stack(&parse_stack_json(json).unwrap()).unwrap();
        let b = analyse_stack(&parse_stack_text(RESNET_STEM).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_stacks_are_refused_with_a_location() {
        assert!(matches!(
            parse_stack_text("conv kernel=3"),
            Err(StackError::Syntax { .. })
        ));
        assert!(parse_stack_text("input 1,3,8\nconv out_channels=4 kernel=3 strid=2").is_err());
        let err =
            analyse_stack(&parse_stack_text("input 1,3,8\nconv out_channels=4 kernel=9").unwrap())
                .unwrap_err();
        assert!(err.to_string().contains("layer 1"), "{err}");
        assert!(parse_stack_json("[1,2]").is_err());
    }
}
