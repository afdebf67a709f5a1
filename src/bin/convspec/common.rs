//! Shared geometry flags and output helpers.

use clap::Args;
use convspec::geometry::parse::{
    parse_auto_pad, parse_onnx_pads, parse_padding, parse_padding_mode, parse_per_dim,
};
use convspec::geometry::ConvGeometry;
use convspec::scalar::Rational;
use ndarray::ArrayD;

/// The layer geometry, with PyTorch's argument names in kebab case.
#[derive(Args, Debug, Default, Clone)]
pub struct GeometryArgs {
    /// Stride: one value for every spatial dimension, or a comma list (PyTorch default 1).
    #[arg(long)]
    pub stride: Option<String>,
    /// Padding: N | N,M,... (symmetric per dimension) | same (PyTorch, stride 1) | valid | full.
    #[arg(long)]
    pub padding: Option<String>,
    /// Dilation: one value or a comma list (default 1).
    #[arg(long)]
    pub dilation: Option<String>,
    /// Groups (default 1).
    #[arg(long)]
    pub groups: Option<usize>,
    /// Padding mode: zeros | reflect | replicate | circular (default zeros).
    #[arg(long)]
    pub padding_mode: Option<String>,
    /// ONNX-ordered asymmetric pads: all begins, then all ends (b1,b2,...,e1,e2,...).
    #[arg(long, conflicts_with_all = ["padding", "auto_pad"])]
    pub pads: Option<String>,
    /// ONNX auto_pad: same-upper | same-lower | valid (any stride; output ceil(L/s)).
    #[arg(long, conflicts_with = "padding")]
    pub auto_pad: Option<String>,
}

impl GeometryArgs {
    /// True when any layer flag was given.
    pub fn any(&self) -> bool {
        self.stride.is_some()
            || self.padding.is_some()
            || self.dilation.is_some()
            || self.groups.is_some()
            || self.padding_mode.is_some()
            || self.pads.is_some()
            || self.auto_pad.is_some()
    }

    /// The geometry for `rank` spatial dimensions.
    pub fn geometry(&self, rank: usize) -> Result<ConvGeometry, String> {
        let mut g = ConvGeometry::new(rank);
        let s = |e: convspec::geometry::parse::ParseError| e.to_string();
        if let Some(v) = &self.stride {
            g.stride = parse_per_dim("--stride", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.dilation {
            g.dilation = parse_per_dim("--dilation", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.padding {
            g.padding = parse_padding("--padding", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.pads {
            g.padding = parse_onnx_pads("--pads", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.auto_pad {
            g.padding = parse_auto_pad("--auto-pad", v).map_err(s)?;
        }
        if let Some(v) = &self.padding_mode {
            g.padding_mode = parse_padding_mode("--padding-mode", v).map_err(s)?;
        }
        if let Some(groups) = self.groups {
            g.groups = groups;
        }
        Ok(g)
    }
}

/// A tensor as text: its shape, then its exact values row by row.
pub fn render(values: &ArrayD<Rational>) -> String {
    let shape = values.shape();
    let mut out = format!("shape {shape:?}\n");
    let width = shape.last().copied().unwrap_or(1).max(1);
    let rows: Vec<String> = values
        .iter()
        .map(|q| q.to_string())
        .collect::<Vec<_>>()
        .chunks(width)
        .map(|row| row.join("  "))
        .collect();
    let outer = &shape[..shape.len().saturating_sub(1)];
    for (r, row) in rows.iter().enumerate() {
        let mut index = convspec::io::unravel(r, outer);
        if !outer.is_empty() {
            index.push(0);
            out.push_str(&format!("{:?}: ", &index[..index.len() - 1]));
        }
        out.push_str(row);
        out.push('\n');
    }
    out
}
