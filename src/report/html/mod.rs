//! The operator's dashboard: one self-contained HTML page — inline CSS and SVG charts, no script,
//! nothing fetched from a network — full width and responsive.
//!
//! The page is built with `maud`, whose templates escape every value they interpolate: an id, a name
//! or a metadata value from the database cannot become markup. The page is gathered first
//! ([`gather`]: the queries, into plain data, [`page::Page`]) and rendered after ([`render`]: one
//! template per part, and the style sheet). Money shows to the cent
//! ([`Usd::rounded`](crate::Usd::rounded)); the JSON reports stay exact.

mod gather;
mod page;
mod render;

#[cfg(test)]
mod tests {
    use super::page::*;
    use super::render::*;

    #[test]
    fn what_comes_from_the_database_is_escaped_in_text_and_attributes() {
        let chart = Bars {
            id: "x",
            title: "t".into(),
            rows: vec![Bar {
                label: r#"<script>alert("x")</script>"#.into(),
                value: 1.0,
                text: r#"Tom & 'Jerry' "quoted""#.into(),
                detail: String::new(),
                color: NEUTRAL,
            }],
        };
        let out = bar_chart(&chart).into_string();
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(
            out.contains("Tom &amp; 'Jerry' &quot;quoted&quot;"),
            "{out}"
        );
    }

    #[test]
    fn a_call_s_path_is_percent_encoded() {
        assert_eq!(call_path("CA12-x_y.z~"), "calls/CA12-x_y.z~");
        assert_eq!(call_path("a b/<c>"), "calls/a%20b%2F%3Cc%3E");
    }

    #[test]
    fn a_loss_is_a_bar_left_of_zero() {
        let chart = Bars {
            id: "m",
            title: "Margin".into(),
            rows: vec![
                Bar {
                    label: "gain".into(),
                    value: 2.0,
                    text: String::new(),
                    detail: String::new(),
                    color: PROFIT,
                },
                Bar {
                    label: "loss".into(),
                    value: -1.0,
                    text: String::new(),
                    detail: String::new(),
                    color: LOSS,
                },
            ],
        };
        let out = bar_chart(&chart).into_string();
        // Zero at x = 400; the gain spans 170 to its right, the loss 85 to its left.
        assert!(out.contains(r#"x="400.0" y="5" width="170.0""#), "{out}");
        assert!(out.contains(r#"x="315.0" y="31" width="85.0""#), "{out}");
    }

    #[test]
    fn every_category_has_a_colour_of_its_own() {
        let mut colours: Vec<&str> = CATEGORY_COLORS.iter().map(|(_, c)| *c).collect();
        colours.push(NEUTRAL);
        let n = colours.len();
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), n);
        for c in crate::base::usage::Category::ALL {
            assert_ne!(category_color(c.as_str()), NEUTRAL, "{c:?}");
        }
    }
}
