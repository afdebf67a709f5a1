//! Flag definitions on clap's builder API.
//!
//! No `#[derive(Parser)]`: the derive brings clap_derive, syn, quote and proc-macro2 into every
//! clean build, which on CI's two slow cores cost minutes for what a few helpers do. Each
//! argument group has a `define` (adds its flags to a command) and a `from_matches` (reads them
//! back); the flag's id is its long name, so conflicts name flags as the user types them.

use clap::builder::{EnumValueParser, PossibleValue};
use clap::{value_parser, Arg, ArgAction, ArgMatches, ValueEnum};
use std::path::PathBuf;

/// `--id VALUE`, kept as text (the library parses it, with messages that name the flag).
pub fn text(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name("VALUE")
        .help(help)
        .action(ArgAction::Set)
        // `--stride -1` reaches the value's parser, which names the flag and the rule,
        // instead of clap's "unexpected argument '-1'".
        .allow_negative_numbers(true)
}

/// `--id FILE`.
pub fn path(id: &'static str, help: &'static str) -> Arg {
    text(id, help)
        .value_name("FILE")
        .value_parser(value_parser!(PathBuf))
}

/// `--id N`, a non-negative integer (usize).
pub fn number(id: &'static str, help: &'static str) -> Arg {
    text(id, help)
        .value_name("N")
        .value_parser(value_parser!(usize))
}

/// `--id N`, a non-negative integer (u64).
pub fn number_u64(id: &'static str, help: &'static str) -> Arg {
    text(id, help)
        .value_name("N")
        .value_parser(value_parser!(u64))
}

/// `--id` without a value.
pub fn switch(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id).long(id).help(help).action(ArgAction::SetTrue)
}

/// `--id CHOICE` among the values of `T`, `default` when absent.
pub fn choice<T: ValueEnum + Clone + Send + Sync + 'static>(
    id: &'static str,
    help: &'static str,
    default: &'static str,
) -> Arg {
    text(id, help)
        .value_name("CHOICE")
        .value_parser(EnumValueParser::<T>::new())
        .default_value(default)
}

/// The text of an optional flag.
pub fn get_text(m: &ArgMatches, id: &str) -> Option<String> {
    m.get_one::<String>(id).cloned()
}

/// The path of an optional flag.
pub fn get_path(m: &ArgMatches, id: &str) -> Option<PathBuf> {
    m.get_one::<PathBuf>(id).cloned()
}

/// The value of an optional typed flag.
pub fn get<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Option<T> {
    m.get_one::<T>(id).cloned()
}

/// The value of a flag that clap guarantees (required, or with a default).
pub fn given<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> T {
    get(m, id).unwrap_or_else(|| panic!("clap enforces --{id}"))
}

/// One possible value with its help line.
pub fn possible(name: &'static str, help: &'static str) -> PossibleValue {
    PossibleValue::new(name).help(help)
}

/// Implements [`ValueEnum`] for a fieldless enum from `Variant => "name": "help"` lines.
macro_rules! value_enum {
    ($ty:ty { $($variant:ident => $name:literal : $help:literal),+ $(,)? }) => {
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(Self::$variant),+]
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(match self {
                    $(Self::$variant => $crate::args::possible($name, $help)),+
                })
            }
        }
    };
}
pub(crate) use value_enum;
